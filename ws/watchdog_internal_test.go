package ws

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time          { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t = f.t.Add(d) }

func newTestLink(cfg Config, clk *fakeClock) *link {
	c := &Conn{cfg: cfg, host: "h:1", now: clk.now}
	return newLink(c, nil, nil)
}

func TestWatchdogDeadlines(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := newTestLink(Config{FirstEventTimeout: 10 * time.Second, EventIntervalTimeout: 3 * time.Second}, clk)

	assert.Nil(t, l.stalled(), "nothing awaited")
	l.arm()
	clk.advance(9 * time.Second)
	assert.Nil(t, l.stalled())
	l.observe("ping") // keep-alive: no progress
	clk.advance(time.Second)
	err := l.stalled()
	require.ErrorIs(t, err, roundtripper.ErrFirstTokenTimeout)
	assert.Equal(t, 10*time.Second, err.(*StallError).Waited)

	l = newTestLink(Config{FirstEventTimeout: 10 * time.Second, EventIntervalTimeout: 3 * time.Second}, clk)
	l.arm()
	clk.advance(time.Second)
	l.observe("response.created")
	clk.advance(2 * time.Second)
	l.observe("response.output_text.delta")
	clk.advance(2 * time.Second)
	l.observe("keepalive")
	assert.Nil(t, l.stalled())
	clk.advance(time.Second)
	err = l.stalled()
	require.ErrorIs(t, err, roundtripper.ErrTokenIntervalTimeout)
	assert.Equal(t, 2, err.(*StallError).Events)

	l.observe("response.done")
	clk.advance(time.Hour)
	assert.Nil(t, l.stalled(), "the response is done")
	select {
	case <-l.idleCh():
	default:
		t.Fatal("idle after response.done")
	}
}

func TestWatchdogConfig(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := newTestLink(Config{FirstEventTimeout: -1, EventIntervalTimeout: -1}, clk)
	l.arm()
	clk.advance(time.Hour)
	assert.Nil(t, l.stalled(), "both limits off")

	cfg := Config{ResponseEvents: []string{"generate"}, DoneEvents: []string{"end"}, KeepAliveEvents: []string{"hb"}}
	assert.True(t, cfg.isResponseEvent("generate"))
	assert.False(t, cfg.isResponseEvent("response.create"))
	assert.True(t, cfg.isDoneEvent("end"))
	assert.True(t, cfg.isKeepAlive("hb"))
	assert.False(t, cfg.isKeepAlive("ping"))
	var zero Config
	assert.True(t, zero.isResponseEvent("response.create"))
	assert.True(t, zero.isDoneEvent("error"))
	assert.Equal(t, 20*time.Second, zero.pingInterval())
	assert.Equal(t, 10*time.Second, zero.pingTimeout())
	assert.Equal(t, 5*time.Second, zero.closeTimeout())
	assert.EqualValues(t, 10<<20, zero.maxMessageSize())
	assert.EqualValues(t, -1, (&Config{MaxMessageSize: -1}).maxMessageSize())
	assert.Zero(t, (&Config{PingInterval: -1}).pingInterval())
}
