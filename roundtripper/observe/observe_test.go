package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const chatPath = "/v1/chat/completions"

// client returns a client over srv's transport with mws on it, and closes
// its idle connections at the end of the test.
func client(t *testing.T, srv *testserver.Server, mws ...roundtripper.Middleware) *http.Client {
	t.Helper()
	tr := srv.Transport()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: roundtripper.Chain(tr, mws...)}
}

func TestPhasesNewAndReusedConnection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto testserver.Protocol
		tls   bool
		http2 bool
	}{
		{"http1", testserver.HTTP1, false, false},
		{"h2c", testserver.H2C, false, true},
		{"tls", testserver.TLS, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{Protocol: tc.proto})
			reps := newReports()
			c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}))

			resp, _ := post(t, c, srv.URL()+chatPath, `{"model":"m"}`)
			r := reps.next(t)
			require.Len(t, r.Attempts, 1)
			a := r.Attempts[0]
			assert.Equal(t, 200, r.Status)
			assert.Equal(t, resp.Header.Get("X-Request-Id"), r.RequestID)
			assert.NotEmpty(t, r.RequestID)
			assert.Equal(t, "POST", r.Method)
			assert.Equal(t, srv.Addr(), r.Host)
			assert.Equal(t, chatPath, r.Path)
			assert.Equal(t, int64(len(`{"model":"m"}`)), r.RequestBytes)
			assert.Positive(t, r.BytesRead)
			assert.False(t, r.Stream)
			assert.Empty(t, r.Outcome)
			assert.NoError(t, r.Err)
			if tc.http2 {
				assert.Equal(t, "HTTP/2.0", r.Proto)
			}

			// A new connection: connect, then TLS, then the connection,
			// then the first byte, then the end.
			assert.False(t, a.Reused)
			assert.Positive(t, a.Connect.Start)
			assert.LessOrEqual(t, a.Connect.Start, a.Connect.End)
			last := a.Connect.End
			if tc.tls {
				assert.LessOrEqual(t, last, a.TLS.Start)
				assert.LessOrEqual(t, a.TLS.Start, a.TLS.End)
				assert.Positive(t, a.TLS.Duration())
				last = a.TLS.End
			} else {
				assert.Zero(t, a.TLS)
			}
			assert.LessOrEqual(t, last, a.GotConn)
			assert.LessOrEqual(t, a.GotConn, a.FirstByte)
			assert.LessOrEqual(t, a.FirstByte, r.Duration)
			assert.Equal(t, r.Duration, a.End)
			require.NotNil(t, a.RemoteAddr)
			assert.Equal(t, srv.Addr(), a.RemoteAddr.String())

			// The same connection again: no dial.
			post(t, c, srv.URL()+chatPath, `{"model":"m"}`)
			r = reps.next(t)
			a = r.Attempts[0]
			assert.True(t, a.Reused)
			assert.Zero(t, a.Connect)
			assert.Zero(t, a.TLS)
			assert.Zero(t, a.DNS)
			assert.Positive(t, a.GotConn)
			assert.LessOrEqual(t, a.GotConn, a.FirstByte)
			assert.Equal(t, int64(1), srv.Stats().ConnsAccepted)
			reps.none(t)
		})
	}
}

func TestDNSPhase(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	reps := newReports()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: observe.New(observe.Config{OnReport: reps.onReport})(tr)}
	_, port, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	post(t, c, "http://localhost:"+port+chatPath, `{"model":"m"}`)
	r := reps.next(t)
	a := r.Attempts[0]
	assert.Equal(t, "localhost:"+port, r.Host)
	assert.Positive(t, a.DNS.Start)
	assert.LessOrEqual(t, a.DNS.Start, a.DNS.End)
	assert.LessOrEqual(t, a.DNS.End, a.Connect.Start)
	assert.LessOrEqual(t, a.Connect.Start, a.GotConn)
}

func TestAnthropicRequestID(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}))
	resp, _ := post(t, c, srv.URL()+"/v1/messages", `{"model":"m","max_tokens":4}`)
	r := reps.next(t)
	assert.NotEmpty(t, r.RequestID)
	assert.Equal(t, resp.Header.Get("Request-Id"), r.RequestID)
}

func TestStreamTimings(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	srv := testserver.New(t, testserver.Config{
		TokensPerSecond: 25, // 40ms between tokens
		Default:         testserver.Fault{FirstTokenDelay: delay},
	})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}), fakeWatchdog)

	start := time.Now()
	post(t, c, srv.URL()+chatPath, `{"model":"m","stream":true,"max_tokens":10}`)
	elapsed := time.Since(start)
	r := reps.next(t)

	assert.True(t, r.Stream)
	assert.Equal(t, roundtripper.StreamCompleted, r.Outcome)
	assert.Equal(t, 10, r.Tokens)
	assert.Greater(t, r.Events, r.Tokens) // role chunk, finish chunk
	assert.Positive(t, r.FirstEvent)
	assert.LessOrEqual(t, r.FirstEvent, r.FirstToken)
	assert.GreaterOrEqual(t, r.FirstToken, delay)
	assert.Less(t, r.FirstToken, elapsed)
	assert.LessOrEqual(t, r.FirstByte, r.FirstEvent+time.Millisecond)
	// The first response byte (headers) comes long before the first token.
	a := r.Attempts[0]
	assert.Less(t, a.FirstByte, r.FirstToken-delay/2)

	g := r.Gaps
	assert.Equal(t, 9, g.Count)
	assert.LessOrEqual(t, g.Min, g.Mean())
	assert.LessOrEqual(t, g.Mean(), g.Max)
	// Paced at 40ms; generous margins for a loaded machine.
	assert.Greater(t, g.Mean(), 10*time.Millisecond)
	assert.Less(t, g.Mean(), 400*time.Millisecond)
	assert.Equal(t, g.Sum, r.LastToken-r.FirstToken)
	var inBuckets uint32
	for _, n := range g.Buckets {
		inBuckets += n
	}
	assert.Equal(t, uint32(9), inBuckets)
	assert.False(t, r.Buffered)
}

func TestStreamBuffered(t *testing.T) {
	t.Parallel()
	// All tokens as fast as possible after a long silence: what a client
	// sees behind a proxy that buffers the stream. The long delay and the
	// many tokens leave room for a loaded machine: the burst may take up to
	// 330ms (10% of the time) and 1.99ms a token on average.
	srv := testserver.New(t, testserver.Config{
		Default: testserver.Fault{FirstTokenDelay: 3 * time.Second},
	})
	for _, watchdog := range []bool{true, false} {
		t.Run(fmt.Sprint("watchdog=", watchdog), func(t *testing.T) {
			t.Parallel()
			reps := newReports()
			mws := []roundtripper.Middleware{observe.New(observe.Config{OnReport: reps.onReport})}
			if watchdog {
				mws = append(mws, fakeWatchdog)
			}
			c := client(t, srv, mws...)
			post(t, c, srv.URL()+chatPath, `{"model":"m","stream":true,"max_tokens":200}`)
			r := reps.next(t)
			if watchdog {
				assert.Equal(t, 200, r.Tokens)
			}
			assert.True(t, r.Buffered, "first token at %v, last at %v, mean gap %v; first byte at %v, end %v",
				r.FirstToken, r.LastToken, r.Gaps.Mean(), r.FirstByte, r.Duration)
		})
	}
}

func TestStreamNotBuffered(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Config{TokensPerSecond: 100})
	for _, watchdog := range []bool{true, false} {
		t.Run(fmt.Sprint("watchdog=", watchdog), func(t *testing.T) {
			t.Parallel()
			reps := newReports()
			mws := []roundtripper.Middleware{observe.New(observe.Config{OnReport: reps.onReport})}
			if watchdog {
				mws = append(mws, fakeWatchdog)
			}
			c := client(t, srv, mws...)
			post(t, c, srv.URL()+chatPath, `{"model":"m","stream":true,"max_tokens":30}`)
			r := reps.next(t)
			assert.False(t, r.Buffered)
		})
	}
}

func TestStreamOutcomeWithoutWatchdog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		path  string
		fault testserver.Fault
		want  roundtripper.StreamOutcome
	}{
		{"chat done", chatPath, testserver.Fault{}, roundtripper.StreamCompleted},
		{"anthropic stop", "/v1/messages", testserver.Fault{}, roundtripper.StreamCompleted},
		{"responses completed", "/v1/responses", testserver.Fault{}, roundtripper.StreamCompleted},
		{"chat truncated", chatPath, testserver.Fault{Truncate: true}, observe.OutcomeUnknown},
		{"chat error event", chatPath, testserver.Fault{ErrorEvent: true}, roundtripper.StreamErrored},
		{"anthropic error event", "/v1/messages", testserver.Fault{ErrorEvent: true}, roundtripper.StreamErrored},
		{"reset mid-stream", chatPath, testserver.Fault{Close: testserver.CloseMidStream, Reset: true}, roundtripper.StreamErrored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{Default: tc.fault})
			reps := newReports()
			c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}))
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+tc.path,
				strings.NewReader(`{"model":"m","stream":true,"max_tokens":8}`))
			require.NoError(t, err)
			resp, err := c.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			require.NoError(t, resp.Body.Close())
			r := reps.next(t)
			assert.True(t, r.Stream)
			assert.Equal(t, tc.want, r.Outcome)
			assert.Positive(t, r.FirstByte)
			assert.Zero(t, r.Tokens) // no stream layer to count them
			reps.none(t)
		})
	}
}

func TestStreamCancelled(t *testing.T) {
	srv := testserver.New(t, testserver.Config{TokensPerSecond: 20})
	for _, watchdog := range []bool{false, true} {
		t.Run(fmt.Sprint("watchdog=", watchdog), func(t *testing.T) {
			reps := newReports()
			mws := []roundtripper.Middleware{observe.New(observe.Config{OnReport: reps.onReport})}
			if watchdog {
				mws = append(mws, fakeWatchdog)
			}
			c := client(t, srv, mws...)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+chatPath,
				strings.NewReader(`{"model":"m","stream":true,"max_tokens":100}`))
			require.NoError(t, err)
			resp, err := c.Do(req)
			require.NoError(t, err)
			_, err = resp.Body.Read(make([]byte, 64))
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			r := reps.next(t)
			assert.Equal(t, roundtripper.StreamCancelled, r.Outcome)
			// Closing again, or reading after Close, reports nothing more.
			_ = resp.Body.Close()
			_, _ = resp.Body.Read(make([]byte, 8))
			reps.none(t)
		})
	}
}

func TestStreamEndFromLayer(t *testing.T) {
	// A layer that says the stream stalled: its word wins over the body's.
	stalled := errors.New("stalled")
	layer := func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err != nil {
				return nil, err
			}
			tr := roundtripper.ContextTrace(req.Context())
			tr.StreamEvent(false)
			tr.StreamEnd(roundtripper.StreamStalled, stalled)
			return resp, nil
		})
	}
	srv := testserver.New(t, testserver.Config{})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}), layer)
	post(t, c, srv.URL()+chatPath, `{"model":"m","stream":true}`)
	r := reps.next(t)
	assert.Equal(t, roundtripper.StreamStalled, r.Outcome)
	assert.Equal(t, roundtripper.StreamStalled, r.Attempts[0].Outcome)
	assert.ErrorIs(t, r.Attempts[0].Err, stalled)
	assert.Equal(t, 1, r.Events)
}

func TestAttemptsFromRetry(t *testing.T) {
	srv := testserver.New(t, testserver.Config{
		Script: []testserver.Fault{
			{Status: 503, Header: map[string]string{"retry-after-ms": "20"}},
			{Status: 429, Header: map[string]string{"retry-after-ms": "10"}},
		},
	})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}), fakeRetry(3))
	post(t, c, srv.URL()+chatPath, `{"model":"m"}`)
	r := reps.next(t)
	require.Len(t, r.Attempts, 3)
	assert.Equal(t, 200, r.Status)
	for i, a := range r.Attempts {
		assert.Equal(t, i+1, a.N)
		assert.Positive(t, a.FirstByte, "attempt %d", a.N)
		assert.LessOrEqual(t, a.Start, a.GotConn)
		assert.LessOrEqual(t, a.GotConn, a.FirstByte)
		assert.LessOrEqual(t, a.FirstByte, a.End)
		if i > 0 {
			prev := r.Attempts[i-1]
			assert.Equal(t, prev.End, a.Start)
			assert.GreaterOrEqual(t, a.Start-prev.FirstByte, prev.RetryWait)
			assert.True(t, a.Reused, "attempt %d reuses the drained connection", a.N)
		}
	}
	assert.Equal(t, 20*time.Millisecond, r.Attempts[0].RetryWait)
	assert.Equal(t, "retry-after-ms", r.Attempts[0].RetrySource)
	assert.Equal(t, 10*time.Millisecond, r.Attempts[1].RetryWait)
	assert.Zero(t, r.Attempts[2].RetryWait)
	assert.Equal(t, 30*time.Millisecond, r.RetryWait)
	assert.False(t, r.Attempts[0].Reused)
	assert.Equal(t, r.Duration, r.Attempts[2].End)
	reps.none(t)
}

func TestStreamRetriedAfterStall(t *testing.T) {
	// The first attempt's stream is cut by its layer (StreamEnd stalled)
	// and the retrying layer sends a second one: the call's stream is the
	// second attempt's.
	first := true
	var mu sync.Mutex
	stall := func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			f := first
			first = false
			mu.Unlock()
			if f {
				_ = resp.Body.Close()
				tr := roundtripper.ContextTrace(req.Context())
				tr.StreamEvent(false)
				tr.StreamEnd(roundtripper.StreamStalled, nil)
				resp = &http.Response{StatusCode: 503, Header: http.Header{}, Body: http.NoBody, Request: req}
			}
			return resp, nil
		})
	}
	srv := testserver.New(t, testserver.Config{})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}), fakeRetry(2), stall, fakeWatchdog)
	post(t, c, srv.URL()+chatPath, `{"model":"m","stream":true,"max_tokens":5}`)
	r := reps.next(t)
	require.Len(t, r.Attempts, 2)
	assert.Equal(t, roundtripper.StreamStalled, r.Attempts[0].Outcome)
	assert.Equal(t, roundtripper.StreamCompleted, r.Attempts[1].Outcome)
	assert.Equal(t, roundtripper.StreamCompleted, r.Outcome)
	assert.Equal(t, 5, r.Tokens)
	assert.Greater(t, r.FirstEvent, r.Attempts[1].Start)
}

func TestPoolWait(t *testing.T) {
	pool := func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			roundtripper.ContextTrace(req.Context()).PoolWait(7 * time.Millisecond)
			return next.RoundTrip(req)
		})
	}
	srv := testserver.New(t, testserver.Config{})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}), pool)
	post(t, c, srv.URL()+chatPath, `{"model":"m"}`)
	r := reps.next(t)
	assert.Equal(t, 7*time.Millisecond, r.PoolWait)
	assert.Equal(t, 7*time.Millisecond, r.Attempts[0].PoolWait)
}

func TestRoundTripError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	reps := newReports()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rt := observe.New(observe.Config{OnReport: reps.onReport})(tr)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+chatPath, strings.NewReader("{}"))
	require.NoError(t, err)
	resp, err := rt.RoundTrip(req)
	require.Error(t, err)
	require.Nil(t, resp)
	r := reps.next(t)
	assert.Equal(t, err, r.Err)
	assert.Zero(t, r.Status)
	assert.Error(t, r.Attempts[0].Err)
	assert.Positive(t, r.Attempts[0].Connect.End)
	assert.True(t, r.Failed())
}

func TestComposesWithCallerHooks(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}), fakeRetry(1))

	var gotConn, attempts atomic.Int32
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Add(1) },
	})
	ctx = roundtripper.WithTrace(ctx, &roundtripper.Trace{Attempt: func(int) { attempts.Add(1) }})
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+chatPath, strings.NewReader(`{}`))
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		r := reps.next(t)
		assert.Positive(t, r.Attempts[0].GotConn)
		assert.Positive(t, r.Attempts[0].FirstByte)
	}
	assert.Equal(t, int32(2), gotConn.Load())
	assert.Equal(t, int32(2), attempts.Load())
}

func TestNoCredentialInLogs(t *testing.T) {
	const secret = "sk-test-SECRET"
	srv := testserver.New(t, testserver.Config{
		Script: []testserver.Fault{{Status: 500}},
	})
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := client(t, srv, observe.New(observe.Config{Logger: logger}), fakeRetry(1), fakeWatchdog)

	hdr := []string{"Authorization", "Bearer " + secret, "X-Api-Key", secret, "Api-Key", secret}
	post(t, c, srv.URL()+chatPath+"?key="+secret, `{"model":"m"}`, hdr...)
	post(t, c, srv.URL()+chatPath+"?key="+secret, `{"model":"m","stream":true}`, hdr...)
	post(t, c, srv.URL()+"/v1/messages", `{"model":"m","stream":true}`, hdr...)

	// A failed call whose error names the URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://user:"+secret+"@"+addr+"/v1/models?key="+secret, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	_, err = c.Do(req)
	require.Error(t, err)

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.NotContains(t, out, "SECRET")
	assert.NotContains(t, out, "Bearer")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var calls, attempts int
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		switch m["msg"] {
		case "llmhttp call":
			calls++
		case "llmhttp attempt":
			attempts++
		}
	}
	assert.Equal(t, 4, calls)
	assert.Equal(t, 5, attempts) // the first call was retried
	assert.Contains(t, out, `"level":"WARN"`)
	assert.Contains(t, out, `"outcome":"completed"`)
	assert.Contains(t, out, `"request_id":"`)
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestConcurrentRecycling runs many calls at once, so that call state is
// recycled while others are in flight (run with -race): every report must
// be the call's own.
func TestConcurrentRecycling(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
	srv1 := testserver.New(t, testserver.Config{})
	var mu sync.Mutex
	seen := map[string]int{}
	onReport := func(r *observe.Report) {
		mu.Lock()
		seen[r.Host+" "+r.RequestID]++
		mu.Unlock()
	}
	sink := &checkSink{}
	mw := observe.New(observe.Config{OnReport: onReport, Sinks: []observe.Sink{sink}})
	clients := []*http.Client{client(t, srv, mw), client(t, srv1, mw)}
	urls := []string{srv.URL(), srv1.URL()}

	const workers, calls = 8, 25
	ids := make(chan string, workers*calls)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				k := (w + i) % 2
				stream := i%3 == 0
				resp, _ := post(t, clients[k], urls[k]+chatPath, fmt.Sprintf(`{"model":"m","stream":%v}`, stream))
				ids <- resp.Request.URL.Host + " " + resp.Header.Get("X-Request-Id")
			}
		})
	}
	wg.Wait()
	close(ids)
	require.Eventually(t, func() bool { return sink.n.Load() == workers*calls }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for id := range ids {
		assert.Equal(t, 1, seen[id], "request %s", id)
	}
	assert.Zero(t, sink.bad.Load())
}

// checkSink checks each report's consistency while it is delivered.
type checkSink struct{ n, bad atomic.Int32 }

func (s *checkSink) Observe(r *observe.Report) {
	s.n.Add(1)
	if r.Status != 200 || r.RequestID == "" || len(r.Attempts) != 1 || r.Attempts[0].FirstByte <= 0 ||
		r.Duration < r.Attempts[0].FirstByte || r.Path != chatPath {
		s.bad.Add(1)
	}
}

func TestReportClone(t *testing.T) {
	r := &observe.Report{Attempts: []observe.Attempt{{N: 1}}}
	c := r.Clone()
	c.Attempts[0].N = 2
	assert.Equal(t, 1, r.Attempts[0].N)
	assert.Equal(t, 2, c.Last().N)
	assert.Nil(t, (&observe.Report{}).Last())
}

func TestCancelledContext(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Default: testserver.Fault{HeaderDelay: 5 * time.Second}})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+chatPath, strings.NewReader(`{}`))
	require.NoError(t, err)
	_, err = c.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	r := reps.next(t)
	assert.ErrorIs(t, r.Err, context.DeadlineExceeded)
	assert.Zero(t, r.Status)
}

func TestRecycledContextShowsNoHooks(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	reps := newReports()
	c := client(t, srv, observe.New(observe.Config{OnReport: reps.onReport}))
	resp, _ := post(t, c, srv.URL()+chatPath, `{}`)
	reps.next(t)
	// The call is over and its state may serve another call: the context
	// the caller keeps must not lead to its hooks. (HTTP/1 over a fresh
	// connection is not recycled, so make a second call on the same one.)
	resp, _ = post(t, c, srv.URL()+chatPath, `{}`)
	reps.next(t)
	assert.Nil(t, roundtripper.ContextTrace(resp.Request.Context()))
	assert.Nil(t, httptrace.ContextClientTrace(resp.Request.Context()))
}

// TestWithRetry runs observe over the real retry layer, which announces
// attempts and waits through roundtripper.Trace.
func TestWithRetry(t *testing.T) {
	srv := testserver.New(t, testserver.Config{
		Script: []testserver.Fault{
			{Status: 429, Header: map[string]string{"retry-after-ms": "20"}},
			{Status: 503},
		},
	})
	reps := newReports()
	c := client(t, srv,
		observe.New(observe.Config{OnReport: reps.onReport}),
		retry.New(retry.Config{BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
	post(t, c, srv.URL()+chatPath, `{"model":"m"}`)
	r := reps.next(t)
	require.Len(t, r.Attempts, 3)
	assert.Equal(t, 200, r.Status)
	assert.Equal(t, int64(3), srv.Stats().Requests)
	for i, a := range r.Attempts {
		assert.Equal(t, i+1, a.N)
		assert.Positive(t, a.FirstByte)
	}
	assert.Equal(t, "retry-after-ms", r.Attempts[0].RetrySource)
	assert.Equal(t, []int{429, 503, 200}, []int{r.Attempts[0].Status, r.Attempts[1].Status, r.Attempts[2].Status},
		"each attempt's status, from Trace.AttemptDone")
	assert.GreaterOrEqual(t, r.Attempts[0].RetryWait, 20*time.Millisecond)
	assert.Equal(t, "backoff", r.Attempts[1].RetrySource)
	assert.Equal(t, r.Attempts[0].RetryWait+r.Attempts[1].RetryWait, r.RetryWait)
	assert.GreaterOrEqual(t, r.Attempts[1].Start-r.Attempts[0].FirstByte, r.Attempts[0].RetryWait)
	assert.False(t, r.Attempts[0].Reused)
	assert.True(t, r.Attempts[2].Reused)
	reps.none(t)
}

type ctxKey struct{}

// ctxSink records what a ContextSink is given.
type ctxSink struct {
	mu    sync.Mutex
	vals  []any
	stats []int
	plain int
}

func (s *ctxSink) Observe(*observe.Report) { s.mu.Lock(); s.plain++; s.mu.Unlock() }

func (s *ctxSink) ObserveContext(ctx context.Context, r *observe.Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals = append(s.vals, ctx.Value(ctxKey{}))
	s.stats = append(s.stats, r.Status)
}

func TestContextSink(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	sink := &ctxSink{}
	var plain countingSink
	c := client(t, srv, observe.New(observe.Config{Sinks: []observe.Sink{sink, &plain}}))
	req, err := http.NewRequestWithContext(context.WithValue(t.Context(), ctxKey{}, "caller"), http.MethodPost, srv.URL()+chatPath, strings.NewReader(`{"model":"m"}`))
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())

	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.Equal(t, []any{"caller"}, sink.vals, "the caller's context")
	assert.Equal(t, []int{http.StatusOK}, sink.stats)
	assert.Zero(t, sink.plain, "ObserveContext instead of Observe")
	assert.Equal(t, int64(1), plain.n.Load(), "a plain Sink still gets Observe")
}

type countingSink struct{ n atomic.Int64 }

func (s *countingSink) Observe(*observe.Report) { s.n.Add(1) }
