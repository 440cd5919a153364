package observe

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/roundtripper"
)

func TestBufferedRule(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name               string
		tokens             int
		start, first, last time.Duration
		mean               time.Duration
		want               bool
	}{
		{"burst at the end", 50, 0, 2000 * ms, 2030 * ms, ms / 2, true},
		{"attempt started late", 50, 1000 * ms, 3000 * ms, 3050 * ms, ms, true},
		{"too few tokens", 7, 0, 2000 * ms, 2005 * ms, ms / 2, false},
		{"healthy stream", 50, 0, 300 * ms, 2300 * ms, 40 * ms, false},
		{"slow reasoning then fast tokens", 100, 0, 30000 * ms, 32000 * ms, 20 * ms, false},
		{"fast local server", 100, 0, 100 * ms, 200 * ms, ms, false},
		{"burst but gaps too long", 50, 0, 10000 * ms, 10500 * ms, 10 * ms, false},
		{"no time", 50, 0, 0, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, buffered(tc.tokens, tc.start, tc.first, tc.last, tc.mean))
		})
	}
}

func TestGaps(t *testing.T) {
	var g Gaps
	assert.Zero(t, g.Mean())
	for _, d := range []time.Duration{
		0, time.Millisecond, 2 * time.Millisecond, 40 * time.Millisecond, 3 * time.Second, time.Minute,
	} {
		g.add(d)
	}
	assert.Equal(t, 6, g.Count)
	assert.Equal(t, time.Duration(0), g.Min)
	assert.Equal(t, time.Minute, g.Max)
	assert.Equal(t, g.Sum/6, g.Mean())
	assert.Equal(t, [NumGapBuckets]uint32{2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1}, g.Buckets)

	b, ok := GapBound(0)
	assert.True(t, ok)
	assert.Equal(t, time.Millisecond, b)
	_, ok = GapBound(NumGapBuckets - 1)
	assert.False(t, ok)
	_, ok = GapBound(-1)
	assert.False(t, ok)
}

// scanAll feeds s to a fresh call's scanner in chunks of at most n bytes
// (all at once when n is 0) and returns what it found.
func scanAll(s string, n int) (terminal, errEvent bool) {
	c := scanCall(s, n)
	return c.terminal, c.errEvent
}

func scanCall(s string, n int) *call {
	c := &call{headOn: true}
	b := []byte(s)
	for len(b) > 0 {
		k := len(b)
		if n > 0 {
			k = min(n, k)
		}
		c.scan(b[:k])
		b = b[k:]
	}
	if c.headOn && c.headN > 0 {
		c.checkHead()
	}
	return c
}

func TestScanCountsEvents(t *testing.T) {
	in := "data: a\n\ndata: b\r\n\r\n: ping\n\nevent: x\ndata: " + strings.Repeat("y", 100) + "\n\n\n\ndata: [DONE]\n\n"
	for _, n := range []int{0, 1, 2, 5, 33} {
		assert.Equal(t, 5, scanCall(in, n).bodyEvents, "chunks of %d", n)
	}
}

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		name           string
		in             string
		terminal, errs bool
	}{
		{"chat done", "data: {\"choices\":[]}\n\ndata: [DONE]\n\n", true, false},
		{"chat done, no space, CRLF", "data:{}\r\n\r\ndata:[DONE]\r\n\r\n", true, false},
		{"chat done without final newline", "data: {}\n\ndata: [DONE]", true, false},
		{"done at the very start", "data: [DONE]\n\n", true, false},
		{"chat truncated", "data: {\"choices\":[]}\n\n", false, false},
		{"done quoted in content", "data: {\"content\":\"\\ndata: [DONE]\"}\n\n", false, false},
		{"chat error", "data: {\"error\":{\"message\":\"x\"}}\n\n", false, true},
		{"anthropic stop", "event: message_delta\ndata: {}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", true, false},
		{"anthropic error", "event: error\ndata: {\"type\":\"error\"}\n\n", false, true},
		{"responses completed", "event: response.completed\ndata: {\"response\":{}}\n\n", true, false},
		{"responses failed", "event: response.failed\ndata: {}\n\n", false, true},
		{"long lines", "data: " + strings.Repeat("x", 500) + "\n\nevent: " + strings.Repeat("y", 100) + "\n\n", false, false},
		{"comments and pings", ": ping\n\nevent: ping\ndata: {}\n\n", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 2, 3, 7, 31, 32, 33} {
				term, errs := scanAll(tc.in, n)
				assert.Equal(t, tc.terminal, term, "chunks of %d", n)
				assert.Equal(t, tc.errs, errs, "chunks of %d", n)
			}
		})
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{
		"data: [DONE]\n\n",
		"event: message_stop\ndata: {}\n\n",
		"event: error\r\ndata: {}\r\n\r\n",
		"data: {\"error\":1}\n\n",
		": comment\n\nevent: response.completed\n",
		"",
	} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, s string, n uint8) {
		a, b := scanCall(s, 0), scanCall(s, int(n%64)+1)
		if a.terminal != b.terminal || a.errEvent != b.errEvent || a.bodyEvents != b.bodyEvents {
			t.Fatalf("whole: %v %v %d, chunks of %d: %v %v %d",
				a.terminal, a.errEvent, a.bodyEvents, n%64+1, b.terminal, b.errEvent, b.bodyEvents)
		}
	})
}

func TestScanRandomChunks(t *testing.T) {
	in := strings.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"tok\"}}]}\n\n", 40) + "data: [DONE]\n\n"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		c := &call{headOn: true}
		b := []byte(in)
		for len(b) > 0 {
			k := min(1+rng.IntN(80), len(b))
			c.scan(b[:k])
			b = b[k:]
		}
		require.True(t, c.terminal)
		require.False(t, c.errEvent)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time                  { return f.t }
func (f *fakeClock) since(t time.Time) time.Duration { return f.t.Sub(t) }

func TestStartClock(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	o := &observer{now: clk.now, since: clk.since}
	e := clk.now()
	o.epoch.Store(&e)
	clk.t = clk.t.Add(500 * time.Millisecond)
	assert.True(t, o.start().Equal(clk.t))
	assert.Same(t, &e, o.epoch.Load())
	clk.t = clk.t.Add(2 * time.Second)
	assert.True(t, o.start().Equal(clk.t))
	assert.NotSame(t, &e, o.epoch.Load(), "the epoch is re-read after a second")
}

// TestHooksWithFakeClock drives the hooks by hand with a clock moved by
// hand: exact offsets, attempts and stream statistics.
func TestHooksWithFakeClock(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var got *Report
	o := newObserver(Config{OnReport: func(r *Report) { got = r }})
	o.now, o.since = clk.now, clk.since
	e := clk.now()
	o.epoch.Store(&e)

	ms := time.Millisecond
	step := func(d time.Duration) { clk.t = clk.t.Add(d) }
	rt := o.middleware(roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		ct := httptrace.ContextClientTrace(req.Context())
		tr := roundtripper.ContextTrace(req.Context())
		tr.Attempt(1)
		step(10 * ms)
		ct.GotConn(httptrace.GotConnInfo{})
		step(90 * ms)
		ct.GotFirstResponseByte()
		tr.RetryWait(1, 50*ms, "retry-after")
		step(50 * ms)
		tr.Attempt(2)
		tr.PoolWait(5 * ms)
		step(5 * ms)
		ct.GotConn(httptrace.GotConnInfo{Reused: true, WasIdle: true})
		step(45 * ms)
		ct.GotFirstResponseByte()
		step(100 * ms)
		tr.StreamEvent(false) // at 300ms
		for _, d := range []time.Duration{100, 10, 30, 20} {
			step(d * ms)
			tr.StreamEvent(true)
		}
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", Body: http.NoBody, Request: req,
			Header: http.Header{"Content-Type": {"text/event-stream"}, "Request-Id": {"req_1"}}}, nil
	}))
	req, err := http.NewRequest(http.MethodPost, "http://api.example.com/v1/messages?key=x", nil)
	require.NoError(t, err)
	step(0)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	require.NotNil(t, got)
	r := got
	assert.Equal(t, "req_1", r.RequestID)
	assert.Equal(t, "/v1/messages", r.Path)
	assert.Equal(t, time.Unix(1000, 0), r.Start)
	assert.Equal(t, 460*ms, r.Duration)
	require.Len(t, r.Attempts, 2)
	a1, a2 := r.Attempts[0], r.Attempts[1]
	assert.Equal(t, Attempt{N: 1, Start: 1, End: 150 * ms, GotConn: 10 * ms, FirstByte: 100 * ms,
		RetryWait: 50 * ms, RetrySource: "retry-after"}, a1)
	assert.Equal(t, 2, a2.N)
	assert.Equal(t, 150*ms, a2.Start)
	assert.Equal(t, 155*ms, a2.GotConn)
	assert.True(t, a2.Reused)
	assert.Equal(t, 200*ms, a2.FirstByte)
	assert.Equal(t, 50*ms, a2.TimeToHeaders())
	assert.Zero(t, (&Attempt{Start: ms}).TimeToHeaders())
	assert.Equal(t, 5*ms, r.PoolWait)
	assert.Equal(t, 50*ms, r.RetryWait)
	assert.True(t, r.Stream)
	assert.Equal(t, 5, r.Events)
	assert.Equal(t, 4, r.Tokens)
	assert.Equal(t, 300*ms, r.FirstEvent)
	assert.Equal(t, 400*ms, r.FirstToken)
	assert.Equal(t, 460*ms, r.LastToken)
	assert.Equal(t, Gaps{Count: 3, Min: 10 * ms, Max: 30 * ms, Sum: 60 * ms,
		Buckets: [NumGapBuckets]uint32{2: 1, 3: 1, 4: 1}}, r.Gaps)
	assert.Equal(t, OutcomeUnknown, r.Outcome) // no body, no StreamEnd
	assert.Equal(t, http.NoBody, resp.Body)
}
