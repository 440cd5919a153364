package scale

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// full reports whether the full-size runs were asked for (SCALE_FULL=1).
func full() bool { return os.Getenv("SCALE_FULL") == "1" && !raceEnabled }

// scaleStreams is the size of TestScale: 10,000 with SCALE_FULL=1, else a
// size the race detector's goroutine limit (8128) and CI's time allow.
func scaleStreams() int {
	switch {
	case full():
		return 10000
	case raceEnabled:
		return 300
	}
	return 1000
}

// lateMargin is how late past its deadline a stall may be caught: generous,
// for two cores shared with other work (and the race detector's slowness).
const lateMargin = 2 * time.Second

func TestScale(t *testing.T) {
	t.Run("http1", func(t *testing.T) { testScale(t, false) })
	t.Run("h2c", func(t *testing.T) { testScale(t, true) })
}

func testScale(t *testing.T, h2c bool) {
	n := scaleStreams()
	opt := ScaleOptions{Streams: n, Baseline: true, Hold: time.Second, H2C: h2c}
	if full() {
		opt.Hold = 3 * time.Second
		opt.ProfileDir = os.Getenv("SCALE_PROFILE_DIR")
	}
	if !full() {
		// 1% of a few hundred streams is a handful: stall more, to have a
		// distribution.
		opt.StalledFraction = 0.05
		opt.TokenIntervalTimeout = 3 * time.Second
	}
	rep, err := RunScale(t.Context(), opt)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, rep.Markdown(&b))
	t.Log("\n" + b.String())

	assert.Equal(t, rep.Stalled, rep.Detected, "every stall caught")
	assert.Zero(t, rep.FalseStalls, "no healthy stream cut")
	assert.Empty(t, rep.LLMHTTP.Errors)
	assert.GreaterOrEqual(t, rep.MinOpenAtDetection, n-rep.Stalled, "stalls caught while every other stream was open")
	for _, l := range rep.Lateness {
		assert.Less(t, l, lateMargin, "stall caught within its timeout plus the margin")
		assert.GreaterOrEqual(t, l, -50*time.Millisecond, "never before its deadline")
	}
	// Per stream: the caller's goroutine, and net/http's two per HTTP/1.1
	// connection (read and write loops), or over HTTP/2 its one per stream
	// (the request's writer, which lives as long as the stream); llmhttp
	// adds none.
	run := rep.LLMHTTP
	require.NotNil(t, rep.Baseline)
	assert.InDelta(t, rep.Baseline.GoroutinesPerStream, run.GoroutinesPerStream, 0.1, "no goroutine per stream of llmhttp's own")
	assert.Less(t, run.HeapPerStream, 64.0*1024, "bounded heap per stream")
	if h2c {
		assert.LessOrEqual(t, run.GoroutinesPerStream, 2.1)
		// Opening hundreds at once, Go's HTTP/2 client dials far more
		// connections than the server's stream limit needs (it assumes
		// 100 streams per connection until the server's SETTINGS come);
		// how many depends on timing, so only the bound is checked.
		assert.LessOrEqual(t, run.ConnsAccepted, int64(n))
	} else {
		assert.LessOrEqual(t, run.GoroutinesPerStream, 3.1)
		assert.Equal(t, int64(n), run.ConnsAccepted, "one connection per stream")
	}
}

func TestBurst(t *testing.T) {
	opt := BurstOptions{Calls: 200, Tokens: 8}
	if full() {
		opt = BurstOptions{}
	}
	rep, err := RunBurst(t.Context(), opt)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, rep.Markdown(&b))
	t.Log("\n" + b.String())
	require.Len(t, rep.Rows, 7)
	for _, row := range rep.Rows {
		assert.Equal(t, opt.calls(), row.OK, row.Name)
		assert.Len(t, row.TTFT, row.OK, row.Name)
		if per := row.Config.MaxConnsPerHost; per > 0 {
			assert.LessOrEqual(t, row.ConnsOpened, int64(per), "%s opens no more than its limit", row.Name)
		}
	}
}
