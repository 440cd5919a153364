package retry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
)

// The faults of go-retryablehttp this package must not inherit, one test each.

// Its Client.Do calls CloseIdleConnections on the shared pool when it gives
// up (its issues #85, #98, #237).
func TestGiveUpLeavesIdleConnections(t *testing.T) {
	srv, tr := server(t, testserver.Config{})
	// Fill the pool with idle connections.
	const conns = 4
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range conns {
		wg.Go(func() {
			<-start
			req := post(t, context.Background(), srv.URL())
			req.Header.Set(testserver.FaultHeader, `{"HeaderDelay":"200ms"}`)
			resp, err := tr.RoundTrip(req)
			if assert.NoError(t, err) {
				readAll(t, resp)
			}
		})
	}
	close(start)
	wg.Wait()
	before := srv.Stats()
	require.Equal(t, int64(conns), before.ConnsAccepted)

	// Calls that give up in each way the engine can: on a response, on an
	// error, and on the caller's cancel during a wait.
	broken := roundtripper.Func(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("X-Test-Refuse") != "" {
			_ = r.Body.Close()
			return nil, sentErr{notSent: true}
		}
		return tr.RoundTrip(r)
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rt, _ := newTest(t, Config{MaxRetries: 2, DisableBudget: true, OnAttempt: func(a Attempt) {
		if a.Wait > time.Minute {
			cancel()
		}
	}}, broken)
	req := post(t, t.Context(), srv.URL())
	req.Header.Set(testserver.FaultHeader, `{"Status":503}`)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)

	req = post(t, t.Context(), srv.URL())
	req.Header.Set("X-Test-Refuse", "1")
	_, err = rt.RoundTrip(req)
	require.True(t, roundtripper.NotSent(err))

	srv.SetScript(testserver.Fault{Status: 503}, testserver.Fault{Status: 429, Header: map[string]string{"Retry-After": "3000"}})
	rt.cfg.MaxRetryAfter = time.Hour
	_, err = rt.RoundTrip(post(t, ctx, srv.URL()))
	require.ErrorIs(t, err, context.Canceled)

	after := srv.Stats()
	assert.Equal(t, before.ConnsClosed, after.ConnsClosed, "no idle connection was closed by giving up")
	assert.Equal(t, before.ConnsAccepted, after.ConnsAccepted, "the idle connections were reused")
}

// Its FromRequest reads the body again instead of using GetBody; covered by
// TestIdenticalBodies (GetBody called once per retry, Content-Length kept).

// Its inner http.Client follows redirects.
func TestNoRedirects(t *testing.T) {
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{
		{Status: 503},
		{Status: http.StatusFound, Header: map[string]string{"Location": "/v1/models"}, Body: "Moved."},
	}})
	rt, _ := newTest(t, Config{}, tr)
	resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
	require.NoError(t, err)
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, "Moved.", readAll(t, resp))
	assert.Equal(t, int64(2), srv.Stats().Requests)
	assert.Zero(t, srv.Stats().RequestsByPath["/v1/models"])
}

// Its default logger writes to stderr.
func TestSilentWithoutLogger(t *testing.T) {
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: 503}, {Close: testserver.CloseBeforeHeaders}}})
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stderr
	os.Stderr = w
	rt, _ := newTest(t, Config{RetryAmbiguous: true}, tr)
	resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
	os.Stderr = old
	require.NoError(t, w.Close())
	require.NoError(t, err)
	readAll(t, resp)
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Empty(t, string(out))
	assert.Equal(t, int64(3), srv.Stats().Requests)
}

// It waits out any Retry-After, even hours (#247): TestHintOverCap.

func TestStainlessRetryCount(t *testing.T) {
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: 503}, {Status: 503}}})
	rt, _ := newTest(t, Config{}, tr)
	req := post(t, t.Context(), srv.URL())
	req.Header.Set("X-Stainless-Retry-Count", "1")
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	var got []string
	for _, r := range srv.Requests() {
		got = append(got, r.Header.Get("X-Stainless-Retry-Count"))
	}
	assert.Equal(t, []string{"1", "2", "3"}, got)
	assert.Equal(t, "1", req.Header.Get("X-Stainless-Retry-Count"), "the caller's request is untouched")

	// Without the header, none is added.
	srv.SetScript(testserver.Fault{Status: 503})
	resp, err = rt.RoundTrip(post(t, t.Context(), srv.URL()))
	require.NoError(t, err)
	readAll(t, resp)
	for _, r := range srv.Requests()[3:] {
		assert.Empty(t, r.Header.Get("X-Stainless-Retry-Count"))
	}
}

func TestStainlessRetryCountsAgainstBudget(t *testing.T) {
	now := time.Hour
	b := NewBudget(BudgetConfig{})
	b.clock = func() time.Duration { return now }
	srv, tr := server(t, testserver.Config{})
	rt, _ := newTest(t, Config{Budget: b}, tr)
	req := post(t, t.Context(), srv.URL())
	req.Header.Set("X-Stainless-Retry-Count", "2")
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	h := b.host(srv.Addr())
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.cur(int64(now / time.Second))
	assert.Equal(t, int64(0), s.calls)
	assert.Equal(t, int64(1), s.retries)
}

func TestAttemptVisibility(t *testing.T) {
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: 503}, {Status: 429, Header: map[string]string{"Retry-After": "1"}}}})
	var (
		mu       sync.Mutex
		inner    []int
		attempts []int
		waits    []string
		done     []string
	)
	spy := roundtripper.Func(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		inner = append(inner, AttemptFromContext(r.Context()))
		mu.Unlock()
		return tr.RoundTrip(r)
	})
	rt, _ := newTest(t, Config{}, spy)
	ctx := roundtripper.WithTrace(t.Context(), &roundtripper.Trace{
		Attempt: func(n int) { mu.Lock(); attempts = append(attempts, n); mu.Unlock() },
		AttemptDone: func(n, status int, err error) {
			mu.Lock()
			done = append(done, fmt.Sprintf("%d:%d:%v", n, status, err))
			mu.Unlock()
		},
		RetryWait: func(n int, d time.Duration, source string) {
			mu.Lock()
			waits = append(waits, strconv.Itoa(n)+":"+source)
			mu.Unlock()
		},
	})
	resp, err := rt.RoundTrip(post(t, ctx, srv.URL()))
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, []int{1, 2, 3}, inner)
	assert.Equal(t, []int{1, 2, 3}, attempts)
	assert.Equal(t, []string{"1:backoff", "2:retry-after"}, waits)
	assert.Equal(t, []string{"1:503:<nil>", "2:429:<nil>", "3:200:<nil>"}, done)
	assert.Equal(t, 1, AttemptFromContext(context.Background()))
}

// A request built for a server (httptest.NewRequest sets RequestURI) still
// goes through the engine's http.Client.
func TestServerSideRequest(t *testing.T) {
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: 503}}})
	rt, _ := newTest(t, Config{}, tr)
	req := post(t, t.Context(), srv.URL())
	req.RequestURI = "/v1/chat/completions"
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	readAll(t, resp)
}

func TestConcurrentCalls(t *testing.T) {
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: 503}, {Status: 500}, {Status: 429}}})
	rt, _ := newTest(t, Config{DisableBudget: true}, tr)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
			if assert.NoError(t, err) {
				assert.Equal(t, 200, resp.StatusCode)
				readAll(t, resp)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(16+3), srv.Stats().Requests)
}

func TestProtocols(t *testing.T) {
	for _, p := range []testserver.Protocol{testserver.HTTP1, testserver.H2C, testserver.TLS} {
		t.Run(p.String(), func(t *testing.T) {
			srv, tr := server(t, testserver.Config{Protocol: p, Script: []testserver.Fault{{Status: 503}, {Close: testserver.CloseBeforeHeaders}}})
			rt, _ := newTest(t, Config{AddIdempotencyKey: true}, tr)
			resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			readAll(t, resp)
			for _, r := range srv.Requests() {
				assert.Equal(t, chatBody, string(r.Body))
			}
		})
	}
}

// firstTokenWatch stands in for sse.Watchdog: it holds the response until
// its first byte and fails the attempt with a Replayable error if none comes
// in time.
func firstTokenWatch(next http.RoundTripper, timeout time.Duration) http.RoundTripper {
	return roundtripper.Func(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		got := make(chan []byte, 1)
		go func() {
			b := make([]byte, 1)
			n, _ := io.ReadFull(resp.Body, b)
			got <- b[:n]
		}()
		select {
		case b := <-got:
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
			return resp, nil
		case <-time.After(timeout):
			_ = resp.Body.Close()
			<-got
			return nil, sentErr{replay: true}
		}
	})
}

func TestStallBeforeFirstTokenReplayed(t *testing.T) {
	stream := `{"model":"m","stream":true,"max_tokens":3,"messages":[{"role":"user","content":"hi"}]}`
	for _, noReplay := range []bool{false, true} {
		t.Run("NoReplay="+strconv.FormatBool(noReplay), func(t *testing.T) {
			srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{FirstTokenDelay: time.Minute}}})
			rt, _ := newTest(t, Config{NoReplay: noReplay}, firstTokenWatch(tr, 200*time.Millisecond))
			resp, err := rt.RoundTrip(mustReq(t, srv.URL()+"/v1/chat/completions", stream))
			if noReplay {
				require.Error(t, err)
				assert.Equal(t, int64(1), srv.Stats().Requests)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, readAll(t, resp), "data: [DONE]")
			assert.Equal(t, int64(2), srv.Stats().Requests, "retried without an idempotency key")
		})
	}
}

func TestStalledErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":{"message":"busy`)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	rt, _ := newTest(t, Config{MaxRetries: 1}, tr)
	rt.peekTimeout = 100 * time.Millisecond
	start := time.Now()
	resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL))
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, `{"error":{"message":"busy`, string(b), "the caller reads what came")
	assert.Less(t, time.Since(start), 5*time.Second)
}
