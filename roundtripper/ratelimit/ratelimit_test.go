package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
)

// server is an httptest server that records when requests arrive; handle
// answers the nth request (from 0). The tests the issue names use
// internal/testserver; this one serves the cases it has no fault for.
type server struct {
	*httptest.Server
	count atomic.Int64
}

func newServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.count.Add(1) - 1)
		io.Copy(io.Discard, r.Body)
		if handle == nil {
			fmt.Fprint(w, `{"usage":{"total_tokens":1}}`)
			return
		}
		handle(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

// newTestServer starts an internal/testserver over HTTP/2 (h2c), so that
// calls in flight at once need no more connections.
func newTestServer(t *testing.T, cfg testserver.Config) *testserver.Server {
	if cfg.Protocol == testserver.HTTP1 {
		cfg.Protocol = testserver.H2C
	}
	return testserver.New(t, cfg)
}

func clientOver(t *testing.T, tr *http.Transport, lim *ratelimit.Limiter) *http.Client {
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: roundtripper.Chain(tr, lim.Middleware())}
}

func clientFor(t *testing.T, lim *ratelimit.Limiter) *http.Client {
	return clientOver(t, &http.Transport{MaxIdleConnsPerHost: 100}, lim)
}

func post(ctx context.Context, c *http.Client, url, body string) (*http.Response, error) {
	return postTo(ctx, c, url+"/v1/chat/completions", body)
}

func postTo(ctx context.Context, c *http.Client, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.Do(req)
}

// call posts body to url's chat completions and reads the whole response.
func call(ctx context.Context, c *http.Client, url, body string) (int, error) {
	return callPath(ctx, c, url+"/v1/chat/completions", body)
}

func callPath(ctx context.Context, c *http.Client, url, body string) (int, error) {
	resp, err := postTo(ctx, c, url, body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

const small = `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`

// arrivals are the times API requests reached srv.
func arrivals(srv *testserver.Server) []time.Time {
	var at []time.Time
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Path, "/v1/") {
			at = append(at, r.Received)
		}
	}
	return at
}

// warm opens tr's connection to srv, so that the first calls of a test do
// not reach the server late by the connection's setup.
func warm(t *testing.T, srv *testserver.Server, tr *http.Transport) {
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL() + "/health")
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func TestMaxConcurrent(t *testing.T) {
	// Streams of 10 tokens at 50 per second: each is in flight ~200ms.
	srv := newTestServer(t, testserver.Config{TokensPerSecond: 50})
	lim := ratelimit.New(ratelimit.Config{MaxConcurrent: 3})
	c := clientOver(t, srv.Transport(), lim)

	const calls = 12
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			status, err := call(t.Context(), c, srv.URL(), `{"model":"m","stream":true,"max_tokens":10}`)
			assert.NoError(t, err)
			assert.Equal(t, http.StatusOK, status)
		})
	}
	wg.Wait()
	st := srv.Stats()
	assert.Equal(t, int64(calls), st.Requests)
	assert.LessOrEqual(t, st.MaxInFlight, int64(3), "the server never sees more than MaxConcurrent")
	assert.Equal(t, int64(3), st.MaxInFlight, "and the limit is used")
	hs := lim.Stats().Hosts[srv.Addr()]
	assert.Equal(t, int64(calls), hs.Admitted)
	assert.Positive(t, hs.Waited)
	assert.Equal(t, 0, hs.InFlight)
}

func TestStreamHoldsSlotUntilClose(t *testing.T) {
	srv := newTestServer(t, testserver.Config{})
	lim := ratelimit.New(ratelimit.Config{MaxConcurrent: 1, MaxWait: -1})
	c := clientOver(t, srv.Transport(), lim)
	resp, err := post(t.Context(), c, srv.URL(), `{"model":"m","stream":true}`)
	require.NoError(t, err)
	// The stream's body is open: no slot for another call.
	_, err = call(t.Context(), c, srv.URL(), small)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Contains(t, err.Error(), "concurrency")
	require.NoError(t, resp.Body.Close())
	_, err = call(t.Context(), c, srv.URL(), small)
	require.NoError(t, err)
	assert.Equal(t, int64(2), srv.Stats().Requests)
}

func TestBurstKeepsToRPM(t *testing.T) {
	srv := newTestServer(t, testserver.Config{})
	// 1200 per minute: 20 per second, a burst of 20.
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 1200})
	tr := srv.Transport()
	warm(t, srv, tr)
	c := clientOver(t, tr, lim)
	const calls = 50
	start := time.Now()
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			_, err := call(t.Context(), c, srv.URL(), small)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// 20 at once, then 30 at 20/s: at least 1.5s; allow scheduling slack.
	assert.GreaterOrEqual(t, elapsed, 1400*time.Millisecond)
	// In any window of w, at most burst + rate*w arrive. The margin is in
	// time: an arrival late by scheduling shortens the windows that start
	// with it.
	at := arrivals(srv)
	require.Len(t, at, calls)
	for i := range at {
		for j := i; j < len(at); j++ {
			w := at[j].Sub(at[i])
			if w < 0 {
				continue
			}
			allowed := 20 + int((w+600*time.Millisecond).Seconds()*20)
			assert.LessOrEqual(t, j-i+1, allowed, "arrivals %d..%d within %v", i, j, w)
		}
	}
}

func TestLimitedAtOnceAndNeverSent(t *testing.T) {
	srv := newTestServer(t, testserver.Config{})
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 20, MaxWait: 500 * time.Millisecond}) // one every 3s
	c := clientOver(t, srv.Transport(), lim)
	_, err := call(t.Context(), c, srv.URL(), small)
	require.NoError(t, err)

	body := &closeRecorder{Reader: strings.NewReader(small)}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+"/v1/chat/completions", body)
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Transport.RoundTrip(req)
	took := time.Since(start)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.True(t, roundtripper.NotSent(err))
	assert.True(t, roundtripper.Rejected(err), "retry must not re-send it")
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "requests", le.Reason)
	assert.Greater(t, le.Wait, 500*time.Millisecond, "it says how long it would have waited")
	assert.Contains(t, err.Error(), "would have had to wait")
	assert.Less(t, took, 400*time.Millisecond, "refused at once, not after waiting MaxWait")
	assert.True(t, body.closed.Load(), "the request body is closed")
	assert.Equal(t, int64(1), srv.Stats().Requests, "the refused call was never sent")

	// A call needing more than the token bucket holds is refused too.
	lim2 := ratelimit.New(ratelimit.Config{TokensPerMinute: 100})
	_, err = call(t.Context(), clientOver(t, srv.Transport(), lim2), srv.URL(), `{"max_tokens":500}`)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Contains(t, err.Error(), "more tokens than the bucket holds")
	assert.Equal(t, int64(1), srv.Stats().Requests)
	st := lim.Stats().Hosts[srv.Addr()]
	assert.Equal(t, int64(1), st.Rejected)
	assert.Equal(t, int64(1), st.Admitted)
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func Test429CoolsDownHost(t *testing.T) {
	srv := newTestServer(t, testserver.Config{Script: []testserver.Fault{
		{Status: http.StatusTooManyRequests, Header: map[string]string{"retry-after-ms": "600"}},
	}})
	lim := ratelimit.New(ratelimit.Config{})
	c := clientOver(t, srv.Transport(), lim)
	status, err := call(t.Context(), c, srv.URL(), small)
	require.NoError(t, err)
	assert.Equal(t, http.StatusTooManyRequests, status, "the 429 goes back unchanged")
	got429 := time.Now()

	// Other callers of the host wait out the cooldown.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			status, err := call(t.Context(), c, srv.URL(), small)
			assert.NoError(t, err)
			assert.Equal(t, http.StatusOK, status)
		})
	}
	wg.Wait()
	at := arrivals(srv)
	require.Len(t, at, 5)
	for _, a := range at[1:] {
		assert.GreaterOrEqual(t, a.Sub(got429), 500*time.Millisecond)
	}
	st := lim.Stats().Hosts[srv.Addr()]
	assert.Equal(t, int64(1), st.TooManyRequests)
	assert.Equal(t, "cooldown", st.HoldReason)
	assert.Equal(t, int64(4), st.Waited)

	// A caller that cannot wait that long is refused at once.
	srv.SetScript(testserver.Fault{Status: http.StatusTooManyRequests, Header: map[string]string{"retry-after-ms": "5000"}})
	status, err = call(t.Context(), c, srv.URL(), small)
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, status)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	_, err = call(ctx, c, srv.URL(), small)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Contains(t, err.Error(), "cooldown")
	assert.Less(t, time.Since(start), 700*time.Millisecond, "refused at once, not at the deadline")
	assert.Equal(t, int64(6), srv.Stats().Requests)
}

func TestRemainingZeroWaitsForReset(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		header func(now time.Time) map[string]string
		wait   func(now time.Time) time.Duration
	}{
		{"openai", "/v1/chat/completions", func(time.Time) map[string]string {
			return map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "600ms"}
		}, func(time.Time) time.Duration { return 600 * time.Millisecond }},
		{"anthropic", "/v1/messages", func(now time.Time) map[string]string {
			return map[string]string{
				"anthropic-ratelimit-tokens-remaining": "0",
				"anthropic-ratelimit-tokens-reset":     now.Add(1500 * time.Millisecond).UTC().Format(time.RFC3339),
			}
		}, func(now time.Time) time.Duration {
			// RFC 3339 in whole seconds: the reset is the truncated time.
			reset, _ := time.Parse(time.RFC3339, now.Add(1500*time.Millisecond).UTC().Format(time.RFC3339))
			return reset.Sub(now)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			srv := newTestServer(t, testserver.Config{Script: []testserver.Fault{{Header: tt.header(now)}}})
			lim := ratelimit.New(ratelimit.Config{})
			c := clientOver(t, srv.Transport(), lim)
			_, err := callPath(t.Context(), c, srv.URL()+tt.path, small)
			require.NoError(t, err)
			_, err = callPath(t.Context(), c, srv.URL()+tt.path, small)
			require.NoError(t, err)
			at := arrivals(srv)
			require.Len(t, at, 2)
			assert.GreaterOrEqual(t, at[1].Sub(now), tt.wait(now)-100*time.Millisecond)
			st := lim.Stats().Hosts[srv.Addr()]
			assert.NotEmpty(t, st.HoldReason)
			assert.Equal(t, int64(1), st.Waited)
		})
	}
}

func TestZeroConfigLearnsLimits(t *testing.T) {
	srv := newTestServer(t, testserver.Config{RequestsPerMinute: 6000, TokensPerMinute: 500000})
	lim := ratelimit.New(ratelimit.Config{})
	c := clientOver(t, srv.Transport(), lim)
	_, err := call(t.Context(), c, srv.URL(), small)
	require.NoError(t, err)
	st := lim.Stats().Hosts[srv.Addr()]
	assert.Equal(t, int64(6000), st.RequestsPerMinute)
	assert.Equal(t, int64(500000), st.TokensPerMinute)
	assert.Equal(t, int64(5999), st.RemainingRequests)
	assert.Positive(t, st.RemainingTokens)
}

func TestDeadlineBoundsWait(t *testing.T) {
	srv := newTestServer(t, testserver.Config{})
	lim := ratelimit.New(ratelimit.Config{MaxConcurrent: 1})
	c := clientOver(t, srv.Transport(), lim)
	// A stream that stalls holds the only slot until the test ends it.
	stream, err := post(t.Context(), c, srv.URL(), `{"model":"m","stream":true}`)
	require.NoError(t, err)

	// The slot is taken: a caller with a deadline waits until it, not longer.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = call(ctx, c, srv.URL(), small)
	took := time.Since(start)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, roundtripper.NotSent(err))
	assert.GreaterOrEqual(t, took, 250*time.Millisecond)
	assert.Less(t, took, 3*time.Second)

	// So does a caller whose context is cancelled.
	ctx2, cancel2 := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := call(ctx2, c, srv.URL(), small)
		errc <- err
	}()
	cancel2()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.NoError(t, stream.Body.Close())

	// A bucket wait past the deadline is refused at once.
	lim2 := ratelimit.New(ratelimit.Config{RequestsPerMinute: 30}) // one every 2s
	c2 := clientOver(t, srv.Transport(), lim2)
	_, err = call(t.Context(), c2, srv.URL(), small)
	require.NoError(t, err)
	ctx3, cancel3 := context.WithTimeout(t.Context(), 800*time.Millisecond)
	defer cancel3()
	start = time.Now()
	_, err = call(ctx3, c2, srv.URL(), small)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Less(t, time.Since(start), 600*time.Millisecond, "refused at once, not at the deadline")
	assert.Equal(t, int64(2), srv.Stats().Requests)
}

func TestTokenEstimateCorrectedFromUsage(t *testing.T) {
	// testserver answers max_tokens tokens (16 without it) and counts the
	// prompt as a quarter of the body: usage is close to our estimate when
	// max_tokens is set, and far below it when the default of 1024 is assumed.
	tests := []struct {
		name string
		path string
		body string
	}{
		{"chat json", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{"chat stream", "/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{"anthropic stream", "/v1/messages", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"responses stream", "/v1/responses", `{"model":"m","stream":true,"input":"hi"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, testserver.Config{})
			// 2000 tokens a minute, never wait: a second call estimated at
			// ~1030 fits only if the first one's ~1030 were corrected to ~40.
			lim := ratelimit.New(ratelimit.Config{TokensPerMinute: 2000, MaxWait: -1})
			c := clientOver(t, srv.Transport(), lim)
			for i := range 3 {
				_, err := callPath(t.Context(), c, srv.URL()+tt.path, tt.body)
				require.NoError(t, err, "call %d", i)
			}
			st := lim.Stats().Hosts[srv.Addr()]
			assert.Equal(t, int64(3), st.Corrected)
			assert.Greater(t, st.EstimatedTokens, int64(3*1024))
			assert.Less(t, st.UsedTokens, int64(3*100))
			assert.Greater(t, st.UsedTokens, int64(3*16))
		})
	}

	t.Run("charged", func(t *testing.T) {
		// The estimate is low (max_tokens 10) but the server reports more:
		// the difference is charged, and the next call cannot go at once.
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
			fmt.Fprint(w, `{"usage":{"input_tokens":400,"output_tokens":500}}`)
		})
		lim := ratelimit.New(ratelimit.Config{TokensPerMinute: 1000, MaxWait: -1})
		c := clientFor(t, lim)
		_, err := call(t.Context(), c, srv.URL, `{"max_tokens":10}`)
		require.NoError(t, err)
		_, err = call(t.Context(), c, srv.URL, `{"max_tokens":200}`)
		require.ErrorIs(t, err, ratelimit.ErrLimited)
		assert.Equal(t, int64(900), lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")].UsedTokens)
	})
}

func TestBodyWithoutGetBodyIsSent(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
	}))
	defer srv.Close()
	lim := ratelimit.New(ratelimit.Config{TokensPerMinute: 100000})
	c := clientFor(t, lim)
	body := `{"max_tokens":5,"messages":[{"content":"` + strings.Repeat("x", 100000) + `"}]}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, io.NopCloser(strings.NewReader(body)))
	require.NoError(t, err)
	require.Nil(t, req.GetBody)
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, body, got.Load())
	assert.Equal(t, int64(25000+5), lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")].EstimatedTokens)
}

func TestPerKey(t *testing.T) {
	srv := newServer(t, nil)
	lim := ratelimit.New(ratelimit.Config{PerKey: true, RequestsPerMinute: 20, MaxWait: -1})
	c := clientFor(t, lim)
	for _, key := range []string{"Bearer sk-alpha-secret", "Bearer sk-beta-secret"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(small))
		require.NoError(t, err)
		req.Header.Set("Authorization", key)
		resp, err := c.Do(req)
		require.NoError(t, err, "each key has a bucket of its own")
		resp.Body.Close()
	}
	st := lim.Stats()
	require.Len(t, st.Hosts, 2)
	for name := range st.Hosts {
		assert.NotContains(t, name, "secret")
		assert.Contains(t, name, " key:")
	}
	// The first key's bucket is empty now; its error names no key.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(small))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer sk-alpha-secret")
	_, err = c.Do(req)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.NotContains(t, err.Error(), "secret")
}

func TestTransportErrorNotSentGivesBack(t *testing.T) {
	fail := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, notSent{}
	})
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 60, MaxWait: -1})
	rt := lim.Middleware()(fail)
	for range 3 {
		req := httptest.NewRequest(http.MethodPost, "http://api.example.invalid/v1/chat/completions", strings.NewReader(small))
		_, err := rt.RoundTrip(req)
		assert.ErrorIs(t, err, errNotSent, "the request bucket was given back each time")
	}
}

var errNotSent = errors.New("dial refused")

type notSent struct{}

func (notSent) Error() string        { return errNotSent.Error() }
func (notSent) Is(target error) bool { return target == errNotSent }
func (notSent) NotSent() bool        { return true }

// BenchmarkUncontendedCall is one call through the limiter with room to
// spare, against a RoundTripper answering from memory; "bare" is the same
// call without the limiter, for the ratio.
func BenchmarkUncontendedCall(b *testing.B) {
	const respBody = `{"choices":[{"message":{"content":"hello"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(respBody))}, nil
	})
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40, MaxConcurrent: 1000})
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", next},
		{"limiter", lim.Middleware()(next)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodPost, "http://api.example.invalid/v1/chat/completions", strings.NewReader(small))
			buf := make([]byte, 512)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
			}
		})
	}
}

func BenchmarkParallelCalls(b *testing.B) {
	const respBody = `{"usage":{"total_tokens":15}}`
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(respBody))}, nil
	})
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40, MaxConcurrent: 1000})
	rt := lim.Middleware()(next)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest(http.MethodPost, "http://api.example.invalid/v1/chat/completions", strings.NewReader(small))
		for pb.Next() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func TestLogsAndErrorsCarryNoCredential(t *testing.T) {
	srv := newTestServer(t, testserver.Config{Script: []testserver.Fault{
		{Status: http.StatusTooManyRequests, Header: map[string]string{"retry-after-ms": "5000"}},
	}})
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	lim := ratelimit.New(ratelimit.Config{PerKey: true, MaxWait: time.Second, Logger: logger})
	c := clientOver(t, srv.Transport(), lim)
	for range 2 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+"/v1/chat/completions", strings.NewReader(small))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer sk-very-secret")
		req.Header.Set("x-api-key", "sk-ant-very-secret")
		resp, err := c.Do(req)
		if err != nil {
			require.ErrorIs(t, err, ratelimit.ErrLimited)
			assert.NotContains(t, err.Error(), "secret")
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logs.String(), "held back")
	assert.NotContains(t, logs.String(), "secret")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
