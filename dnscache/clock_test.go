package dnscache

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCoarseClockParksWhenIdleAndWakes(t *testing.T) {
	k := newCoarseClock()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		k.run(stop)
		close(done)
	}()
	defer func() {
		close(stop)
		<-done
	}()

	assert.WithinDuration(t, time.Now(), k.now(), time.Second)
	require.Eventually(t, k.parked.Load, 20*time.Second, 10*time.Millisecond, "idle for a second: parked")

	before := time.Now()
	got := k.now()
	assert.False(t, got.Before(before), "a parked clock reads the real time")
	require.Eventually(t, func() bool { return !k.parked.Load() }, 10*time.Second, time.Millisecond)
	// Awake again, it follows the real time.
	require.Eventually(t, func() bool { return !k.now().Before(got.Add(20 * time.Millisecond)) }, 10*time.Second, 5*time.Millisecond)
}
