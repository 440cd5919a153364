package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
)

// server is an httptest server that records when requests arrive and how
// many are in flight at once; handle answers the nth request (from 0).
type server struct {
	*httptest.Server
	mu          sync.Mutex
	arrivals    []time.Time
	inFlight    int64
	maxInFlight int64
	count       atomic.Int64
}

func newServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.count.Add(1) - 1)
		s.mu.Lock()
		s.arrivals = append(s.arrivals, time.Now())
		s.inFlight++
		s.maxInFlight = max(s.maxInFlight, s.inFlight)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight--
			s.mu.Unlock()
		}()
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

func (s *server) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.arrivals...)
}

func clientFor(t *testing.T, lim *ratelimit.Limiter) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 100}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: roundtripper.Chain(tr, lim.Middleware())}
}

func post(ctx context.Context, c *http.Client, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.Do(req)
}

// call posts body and reads the whole response.
func call(ctx context.Context, c *http.Client, url, body string) (int, error) {
	resp, err := post(ctx, c, url, body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

const small = `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`

func TestMaxConcurrent(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {}\n\n")
		w.(http.Flusher).Flush()
		<-release // the stream stays open until the test lets it end
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	lim := ratelimit.New(ratelimit.Config{MaxConcurrent: 3})
	c := clientFor(t, lim)

	const calls = 12
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			_, err := call(t.Context(), c, srv.URL, small)
			errs <- err
		})
	}
	// Three streams open; the rest queue in the limiter, not at the server.
	require.Eventually(t, func() bool { return srv.count.Load() == 3 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, 3, lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")].InFlight)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(calls), srv.count.Load())
	assert.LessOrEqual(t, srv.maxInFlight, int64(3))
	st := lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")]
	assert.Equal(t, int64(calls), st.Admitted)
	assert.Equal(t, 0, st.InFlight)
}

func TestBurstKeepsToRPM(t *testing.T) {
	srv := newServer(t, nil)
	// 1200 per minute: 20 per second, a burst of 20.
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 1200})
	c := clientFor(t, lim)
	const calls = 50
	start := time.Now()
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			_, err := call(t.Context(), c, srv.URL, small)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// 20 at once, then 30 at 20/s: at least 1.5s; allow scheduling slack.
	assert.GreaterOrEqual(t, elapsed, 1400*time.Millisecond)
	// In any window of w, at most burst + rate*w arrive. The margin is in
	// time: the first arrivals are late by their connection's dial, which
	// shortens the windows that start with them.
	at := srv.times()
	require.Len(t, at, calls)
	for i := range at {
		for j := i; j < len(at); j++ {
			w := at[j].Sub(at[i])
			if w < 0 {
				continue
			}
			allowed := 20 + int((w+250*time.Millisecond).Seconds()*20)
			assert.LessOrEqual(t, j-i+1, allowed, "arrivals %d..%d within %v", i, j, w)
		}
	}
}

func TestLimitedAtOnceAndNeverSent(t *testing.T) {
	srv := newServer(t, nil)
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 60, MaxWait: 100 * time.Millisecond}) // one per second
	c := clientFor(t, lim)
	_, err := call(t.Context(), c, srv.URL, small)
	require.NoError(t, err)

	body := &closeRecorder{Reader: strings.NewReader(small)}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions", body)
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Transport.RoundTrip(req)
	took := time.Since(start)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.True(t, roundtripper.NotSent(err))
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "requests", le.Reason)
	assert.Greater(t, le.Wait, 500*time.Millisecond, "it says how long it would have waited")
	assert.Contains(t, err.Error(), "would have had to wait")
	assert.Less(t, took, 80*time.Millisecond, "refused at once, not after waiting")
	assert.True(t, body.closed.Load(), "the request body is closed")
	assert.Equal(t, int64(1), srv.count.Load(), "the refused call was never sent")

	// A call needing more than the token bucket holds is refused too.
	lim2 := ratelimit.New(ratelimit.Config{TokensPerMinute: 100})
	_, err = call(t.Context(), clientFor(t, lim2), srv.URL, `{"max_tokens":500}`)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Contains(t, err.Error(), "more tokens than the bucket holds")
	assert.Equal(t, int64(1), srv.count.Load())
	st := lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")]
	assert.Equal(t, int64(1), st.Rejected)
	assert.Equal(t, int64(1), st.Admitted)
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func Test429CoolsDownHost(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("retry-after-ms", "600")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"type":"rate_limit_error"}}`)
			return
		}
		fmt.Fprint(w, `{}`)
	})
	lim := ratelimit.New(ratelimit.Config{})
	c := clientFor(t, lim)
	status, err := call(t.Context(), c, srv.URL, small)
	require.NoError(t, err)
	assert.Equal(t, http.StatusTooManyRequests, status, "the 429 goes back unchanged")
	got429 := time.Now()

	// Other callers of the host wait out the cooldown.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			status, err := call(t.Context(), c, srv.URL, small)
			assert.NoError(t, err)
			assert.Equal(t, http.StatusOK, status)
		})
	}
	wg.Wait()
	at := srv.times()
	require.Len(t, at, 5)
	for _, a := range at[1:] {
		assert.GreaterOrEqual(t, a.Sub(got429), 500*time.Millisecond)
	}
	st := lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")]
	assert.Equal(t, int64(1), st.TooManyRequests)
	assert.Equal(t, "cooldown", st.HoldReason)
	assert.Equal(t, int64(4), st.Waited)

	// A caller that cannot wait that long is refused at once.
	srv.count.Store(0)
	_, err = call(t.Context(), c, srv.URL, small) // 429 again
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = call(ctx, c, srv.URL, small)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Contains(t, err.Error(), "cooldown")
	assert.Less(t, time.Since(start), 150*time.Millisecond)
}

func TestRemainingZeroWaitsForReset(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("x-ratelimit-limit-requests", "1000")
			w.Header().Set("x-ratelimit-remaining-requests", "0")
			w.Header().Set("x-ratelimit-reset-requests", "500ms")
		}
		fmt.Fprint(w, `{}`)
	})
	lim := ratelimit.New(ratelimit.Config{})
	c := clientFor(t, lim)
	_, err := call(t.Context(), c, srv.URL, small)
	require.NoError(t, err)
	first := time.Now()
	_, err = call(t.Context(), c, srv.URL, small)
	require.NoError(t, err)
	at := srv.times()
	require.Len(t, at, 2)
	assert.GreaterOrEqual(t, at[1].Sub(first), 400*time.Millisecond)
	st := lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")]
	assert.Equal(t, int64(1000), st.RequestsPerMinute, "learnt from the headers")
	assert.Equal(t, "requests", st.HoldReason)
}

func TestDeadlineBoundsWait(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			<-release
		}
		fmt.Fprint(w, `{}`)
	})
	lim := ratelimit.New(ratelimit.Config{MaxConcurrent: 1})
	c := clientFor(t, lim)
	done := make(chan error, 1)
	go func() {
		_, err := call(t.Context(), c, srv.URL, small)
		done <- err
	}()
	require.Eventually(t, func() bool { return srv.count.Load() == 1 }, 10*time.Second, 5*time.Millisecond)

	// The slot is taken: a caller with a deadline waits until it, not longer.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := call(ctx, c, srv.URL, small)
	took := time.Since(start)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.True(t, roundtripper.NotSent(err))
	assert.GreaterOrEqual(t, took, 250*time.Millisecond)
	assert.Less(t, took, 3*time.Second)
	assert.Equal(t, int64(1), srv.count.Load())

	// So does a caller whose context is cancelled.
	ctx2, cancel2 := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := call(ctx2, c, srv.URL, small)
		errc <- err
	}()
	cancel2()
	err = <-errc
	require.ErrorIs(t, err, context.Canceled)

	close(release)
	require.NoError(t, <-done)
}

func TestTokenEstimateCorrectedFromUsage(t *testing.T) {
	var usage atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		fmt.Fprintf(w, `{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":%d,"total_tokens":%d}}`, usage.Load()-1, usage.Load())
	})
	tests := []struct {
		name    string
		first   int64 // max_tokens of the first call (its estimate)
		used    int64 // what its usage reports
		second  int64 // max_tokens of the second call
		allowed bool  // whether the second goes at once
	}{
		{"credit back", 600, 100, 800, true},
		{"no correction needed", 600, 600, 800, false},
		{"charge more", 100, 900, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			usage.Store(tt.used)
			lim := ratelimit.New(ratelimit.Config{TokensPerMinute: 1000, MaxWait: -1})
			c := clientFor(t, lim)
			_, err := call(t.Context(), c, srv.URL, fmt.Sprintf(`{"max_tokens":%d}`, tt.first))
			require.NoError(t, err)
			_, err = call(t.Context(), c, srv.URL, fmt.Sprintf(`{"max_tokens":%d}`, tt.second))
			if tt.allowed {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ratelimit.ErrLimited)
			}
			st := lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")]
			want := tt.used
			if tt.allowed {
				want *= 2 // both calls reported their usage
			}
			assert.Equal(t, want, st.UsedTokens)
		})
	}
}

func TestStreamUsageCorrection(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/event-stream")
		for range 5 {
			fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"tok\"}}],\"usage\":null}\n\n")
		}
		fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	lim := ratelimit.New(ratelimit.Config{TokensPerMinute: 1000, MaxWait: -1})
	c := clientFor(t, lim)
	_, err := call(t.Context(), c, srv.URL, `{"stream":true,"stream_options":{"include_usage":true},"max_tokens":900}`)
	require.NoError(t, err)
	// 8 used, not 900: another 900 fit at once.
	_, err = call(t.Context(), c, srv.URL, `{"max_tokens":900}`)
	require.NoError(t, err)
	st := lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")]
	assert.Equal(t, int64(2*8), st.UsedTokens)
	assert.Equal(t, int64(1800), st.EstimatedTokens)
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
	lim := ratelimit.New(ratelimit.Config{PerKey: true, RequestsPerMinute: 60, MaxWait: -1})
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

func BenchmarkUncontendedCall(b *testing.B) {
	const respBody = `{"choices":[{"message":{"content":"hello"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(respBody))}, nil
	})
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40, MaxConcurrent: 1000})
	rt := lim.Middleware()(next)
	req, _ := http.NewRequest(http.MethodPost, "http://api.example.invalid/v1/chat/completions", strings.NewReader(small))
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
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
}
