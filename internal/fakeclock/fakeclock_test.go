package fakeclock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/fakeclock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAdvanceFiresDueTimers(t *testing.T) {
	c := fakeclock.New()
	start := c.Now()
	soon, _ := c.NewTimer(time.Second)
	_, stopLate := c.NewTimer(time.Minute)
	assert.Equal(t, 2, c.Timers())

	c.Advance(time.Second)
	select {
	case at := <-soon:
		assert.Equal(t, start.Add(time.Second), at)
	default:
		t.Fatal("a due timer did not fire")
	}
	assert.Equal(t, 1, c.Timers())
	assert.True(t, stopLate())
	assert.False(t, stopLate())
	assert.Equal(t, 0, c.Timers())
}
