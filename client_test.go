package llmhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/health"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
	"github.com/llmhttp/llmhttp/sse"
	"github.com/llmhttp/llmhttp/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, cfg llmhttp.Config) *llmhttp.Client {
	t.Helper()
	c, err := llmhttp.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func chatBody(stream bool, tokens int) []byte {
	b, _ := json.Marshal(map[string]any{
		"model": "test", "stream": stream, "max_tokens": tokens,
		"messages": []map[string]string{{"role": "user", "content": "hi"}},
	})
	return b
}

func post(ctx context.Context, t *testing.T, c *http.Client, url string, body []byte, fault *testserver.Fault) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test-SECRET")
	if fault != nil {
		f, err := json.Marshal(fault)
		require.NoError(t, err)
		req.Header.Set(testserver.FaultHeader, string(f))
	}
	return c.Do(req)
}

// streamText reads an OpenAI chat stream to its end and returns its text.
func streamText(t *testing.T, r io.Reader) (string, error) {
	t.Helper()
	var sb strings.Builder
	rd := sse.NewReader(r)
	for {
		ev, err := rd.Next()
		if err != nil {
			return sb.String(), err
		}
		if string(ev.Data) == "[DONE]" {
			return sb.String(), nil
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		require.NoError(t, json.Unmarshal(ev.Data, &chunk))
		for _, c := range chunk.Choices {
			sb.WriteString(c.Delta.Content)
		}
	}
}

func TestZeroConfigCalls(t *testing.T) {
	for _, proto := range []testserver.Protocol{testserver.HTTP1, testserver.H2C} {
		t.Run(proto.String(), func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{Protocol: proto})
			cfg := llmhttp.Config{}
			if proto == testserver.H2C {
				cfg.Transport.H2C = true
				s := transport.Streaming
				s.H2C = true
				cfg.StreamTransport = &s
			}
			c := newClient(t, cfg)

			resp, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(false, 8), nil)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, string(body), testserver.Text(8))

			resp, err = post(t.Context(), t, c.Client, srv.URL(), chatBody(true, 12), nil)
			require.NoError(t, err)
			text, err := streamText(t, resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.Equal(t, testserver.Text(12), text)
			assert.Equal(t, int64(0), c.Stats().InFlight)
		})
	}
}

func TestRetriesAndStallsAreInvisible(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	srv.SetScript(
		testserver.Fault{Status: http.StatusTooManyRequests, Header: map[string]string{"retry-after-ms": "20"}},
		testserver.Fault{StallAfter: 0, FirstTokenDelay: time.Hour}, // a stream that never produces a token
		testserver.Fault{Status: http.StatusBadGateway},
	)
	c := newClient(t, llmhttp.Config{
		Timeouts: llmhttp.Timeouts{FirstToken: 300 * time.Millisecond},
		Retry:    retryFast(),
	})
	resp, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(true, 10), nil)
	require.NoError(t, err)
	text, err := streamText(t, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, testserver.Text(10), text)
	assert.Equal(t, int64(4), srv.Stats().RequestsByPath["/v1/chat/completions"])
}

// Streams have a pool of their own: with it full of stalled-but-alive
// streams, short calls still go through at once; with one shared pool they
// wait for a slot and fail with the pool timeout.
func TestStreamsHaveTheirOwnPool(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "separate", true: "shared"}[shared]
		t.Run(name, func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{})
			short := transport.MediumConcurrency
			short.MaxConnsPerHost = 2
			stream := transport.Streaming
			stream.MaxConnsPerHost = 2
			c := newClient(t, llmhttp.Config{
				Transport: short, StreamTransport: &stream, SharedPool: shared,
				Timeouts:     llmhttp.Timeouts{PoolAcquire: 200 * time.Millisecond, TokenInterval: time.Hour},
				DisableRetry: true,
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stall := &testserver.Fault{StallAfter: 1, StallMode: testserver.StallPings, StallEvery: 50 * time.Millisecond}
			var bodies []io.Closer
			for range 2 {
				resp, err := post(ctx, t, c.Client, srv.URL(), chatBody(true, 50), stall)
				require.NoError(t, err)
				bodies = append(bodies, resp.Body)
			}
			defer func() {
				cancel()
				for _, b := range bodies {
					_ = b.Close()
				}
			}()
			start := time.Now()
			resp, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(false, 4), nil)
			if shared {
				require.Error(t, err)
				assert.ErrorIs(t, err, transport.ErrPoolTimeout)
				return
			}
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			require.NoError(t, resp.Body.Close())
			assert.Less(t, time.Since(start), 2*time.Second)
			assert.Equal(t, 2, c.Stats().StreamTransport.InFlight)
		})
	}
}

func TestTotalTimeoutCutsCallsNotStreams(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	c := newClient(t, llmhttp.Config{
		Timeouts:     llmhttp.Timeouts{Total: 300 * time.Millisecond},
		DisableRetry: true,
	})
	start := time.Now()
	_, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(false, 4), &testserver.Fault{HeaderDelay: time.Hour})
	require.Error(t, err)
	assert.ErrorIs(t, err, llmhttp.ErrTotalTimeout)
	assert.Less(t, time.Since(start), 3*time.Second)

	// A stream that lives longer than Total is not cut.
	resp, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(true, 12), &testserver.Fault{TokensPerSecond: 20})
	require.NoError(t, err)
	text, err := streamText(t, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, testserver.Text(12), text)
}

// The total timeout of a call whose context can never be cancelled
// (context.Background, the common case) is kept without the standard
// library's timer context: it must cut the wait for headers and a stalled
// body all the same, and let a quick call through.
func TestTotalTimeoutBackgroundContext(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	c := newClient(t, llmhttp.Config{
		Timeouts:     llmhttp.Timeouts{Total: 300 * time.Millisecond},
		DisableRetry: true,
	})
	ctx := context.WithValue(context.Background(), struct{}{}, 1) // values, no Done
	start := time.Now()
	_, err := post(ctx, t, c.Client, srv.URL(), chatBody(false, 4), &testserver.Fault{HeaderDelay: time.Hour})
	require.Error(t, err)
	assert.ErrorIs(t, err, llmhttp.ErrTotalTimeout)
	var te *llmhttp.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 300*time.Millisecond, te.After)
	assert.Less(t, time.Since(start), 3*time.Second)

	// Cut while the body is read.
	resp, err := post(ctx, t, c.Client, srv.URL(), chatBody(false, 4), &testserver.Fault{FirstTokenDelay: time.Hour})
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, llmhttp.ErrTotalTimeout)

	// Quick calls, many in a row, go through and leave nothing behind.
	for range 20 {
		resp, err := post(ctx, t, c.Client, srv.URL(), chatBody(false, 2), nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.Eventually(t, func() bool { return c.Stats().InFlight == 0 }, 5*time.Second, 5*time.Millisecond)
}

// A server that accepts the connection but never reads: the upload stalls
// and fails with the write timeout, not at the caller's deadline.
func TestWriteTimeout(t *testing.T) {
	// A small receive buffer, inherited by accepted sockets, makes the
	// upload stall after a few hundred KiB instead of many MiB.
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	stop := make(chan struct{})
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); <-stop; _ = c.Close() }()
		}
	}()
	defer func() { _ = ln.Close(); close(stop); conns.Wait() }()

	c := newClient(t, llmhttp.Config{
		Timeouts:        llmhttp.Timeouts{Write: 300 * time.Millisecond},
		DisableRetry:    true,
		DisableDNSCache: true,
	})
	big := bytes.Repeat([]byte("x"), 16<<20)
	start := time.Now()
	_, err = post(t.Context(), t, c.Client, "http://"+ln.Addr().String(), big, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, llmhttp.ErrWriteTimeout)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.NotContains(t, err.Error(), "SECRET")
	t.Logf("after %v: %v", time.Since(start), err)
}

func TestMiddlewarePositions(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	var mu sync.Mutex
	var order []string
	mark := func(name string) roundtripper.Middleware {
		return func(next http.RoundTripper) http.RoundTripper {
			return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return next.RoundTrip(req)
			})
		}
	}
	c := newClient(t, llmhttp.Config{Middleware: []llmhttp.Insert{
		{At: llmhttp.Innermost, Middleware: mark("inner")},
		{At: llmhttp.Outermost, Middleware: mark("outer")},
		{At: llmhttp.AfterRetry, Middleware: mark("after-retry")},
	}})
	srv.SetScript(testserver.Fault{Status: http.StatusServiceUnavailable, Header: map[string]string{"retry-after-ms": "1"}})
	resp, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(false, 2), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	// outer runs once per call; the layers inside retry once per attempt.
	assert.Equal(t, []string{"outer", "after-retry", "inner", "after-retry", "inner"}, order)
}

func TestShutdownWaitsForCallsInFlight(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	c, err := llmhttp.NewClient(llmhttp.Config{})
	require.NoError(t, err)
	resp, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(true, 40), &testserver.Fault{TokensPerSecond: 200})
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- c.Shutdown(t.Context()) }()
	require.Eventually(t, func() bool {
		resp, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(false, 1), nil)
		if err == nil { // sent before Shutdown began: a call of its own to finish
			_ = resp.Body.Close()
		}
		return errors.Is(err, llmhttp.ErrClosed)
	}, 5*time.Second, 5*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	default:
	}
	text, err := streamText(t, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, testserver.Text(40), text)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, <-done)

	// A deadline that ends first is reported.
	c2, err := llmhttp.NewClient(llmhttp.Config{})
	require.NoError(t, err)
	resp, err = post(t.Context(), t, c2.Client, srv.URL(), chatBody(true, 4), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, c2.Shutdown(ctx), context.DeadlineExceeded)
	_ = resp.Body.Close()
}

func TestFailoverAcrossEndpoints(t *testing.T) {
	a := testserver.New(t, testserver.Config{})
	b := testserver.New(t, testserver.Config{})
	c := newClient(t, llmhttp.Config{Endpoints: []string{a.URL() + "/v1", b.URL() + "/v1"}})
	require.NoError(t, a.Close()) // the preferred replica goes away

	start := time.Now()
	resp, err := post(t.Context(), t, c.Client, a.URL(), chatBody(false, 3), nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int64(1), b.Stats().RequestsByPath["/v1/chat/completions"])
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestInvalidEndpoint(t *testing.T) {
	_, err := llmhttp.NewClient(llmhttp.Config{Endpoints: []string{"::not a url"}})
	require.Error(t, err)
}

// attempts counts the attempts retry reports.
type attempts struct {
	mu   sync.Mutex
	list []retry.Attempt
}

func (a *attempts) add(at retry.Attempt) { a.mu.Lock(); a.list = append(a.list, at); a.mu.Unlock() }

func (a *attempts) get() []retry.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]retry.Attempt(nil), a.list...)
}

// A limiter past its MaxWait fails the call at once: retry, outside it,
// does not send the call back into the same queue after a backoff.
func TestRateLimitMaxWaitFailsAtOnce(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	var at attempts
	rc := retry.Config{OnAttempt: at.add} // default backoff: a retry would take 0.5s to seconds
	c := newClient(t, llmhttp.Config{
		Retry:     rc,
		RateLimit: ratelimit.Config{RequestsPerMinute: 1, MaxWait: 50 * time.Millisecond},
	})
	resp, err := post(t.Context(), t, c.Client, srv.URL(), chatBody(false, 2), nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())

	start := time.Now()
	_, err = post(t.Context(), t, c.Client, srv.URL(), chatBody(false, 2), nil)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.True(t, roundtripper.Rejected(err))
	assert.NotContains(t, err.Error(), "SECRET")
	assert.Less(t, elapsed, time.Second, "failed at once, not after retry backoffs")
	assert.Equal(t, int64(1), srv.Stats().RequestsByPath["/v1/chat/completions"], "the refused call never reached the server")
	a := at.get()
	require.Len(t, a, 2)
	assert.Equal(t, 1, a[1].N)
	assert.False(t, a[1].Retry)
	assert.Equal(t, retry.ReasonRejected, a[1].Reason)
}

// With every endpoint ejected, a call fails at once with
// ErrNoHealthyEndpoint instead of being retried into a long wait.
func TestAllEndpointsDownFailsAtOnce(t *testing.T) {
	a := testserver.New(t, testserver.Config{})
	b := testserver.New(t, testserver.Config{})
	var at attempts
	c := newClient(t, llmhttp.Config{
		Endpoints: []string{a.URL() + "/v1", b.URL() + "/v1"},
		Health:    health.Config{Interval: 20 * time.Millisecond, ProbeFailures: 1, Timeout: time.Second},
		Retry:     retry.Config{OnAttempt: at.add},
	})
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool {
		for _, s := range c.Stats().Health {
			if s.State != health.StateEjected {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)

	start := time.Now()
	_, err := post(t.Context(), t, c.Client, a.URL(), chatBody(false, 2), nil)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, health.ErrNoHealthyEndpoint)
	assert.Less(t, elapsed, time.Second, "failed at once, not after retry backoffs")
	got := at.get()
	require.Len(t, got, 1)
	assert.Equal(t, retry.ReasonRejected, got[0].Reason)
}
