package redislimit_test

import (
	"bytes"
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

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/redislimit"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
)

func TestMain(m *testing.M) {
	// go-redis prints dial failures to stderr by itself; the tests stop
	// Redis on purpose, so keep their output readable.
	redis.SetLogger(quiet{})
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// api is a fake LLM API that records when requests arrive.
type api struct {
	*httptest.Server
	mu       sync.Mutex
	arrivals []time.Time
	usage    atomic.Int64
}

func newAPI(t *testing.T) *api {
	a := &api{}
	a.usage.Store(1)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.arrivals = append(a.arrivals, time.Now())
		a.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, `{"usage":{"total_tokens":%d}}`, a.usage.Load())
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *api) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.arrivals)
}

func (a *api) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.arrivals...)
}

func clientFor(t *testing.T, lim *redislimit.Limiter) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 50}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: roundtripper.Chain(tr, lim.Middleware())}
}

func call(ctx context.Context, c *http.Client, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

const small = `{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`

func newLimiter(t *testing.T, rdb redis.UniversalClient, cfg redislimit.Config) *redislimit.Limiter {
	if cfg.Prefix == "" {
		cfg.Prefix = "test:" + t.Name() + ":"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second // a loaded test machine is slow, not unreachable
	}
	lim := redislimit.New(rdb, cfg)
	t.Cleanup(func() { lim.Close() })
	return lim
}

func TestFleetKeepsToRPM(t *testing.T) {
	rs := startRedis(t)
	srv := newAPI(t)
	// Four processes (four limiters, four clients) share 600 per minute:
	// 10 per second, a burst of 10.
	const procs, workers, window = 4, 3, 2500 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), window)
	defer cancel()
	var wg sync.WaitGroup
	var limited atomic.Int64
	lims := make([]*redislimit.Limiter, procs)
	for p := range procs {
		rdb := rs.client(t)
		require.NoError(t, rdb.Ping(t.Context()).Err()) // connected before the clock starts
		lims[p] = newLimiter(t, rdb, redislimit.Config{
			RequestsPerMinute: 600, Processes: procs, Prefix: "test:fleet:",
		})
		c := clientFor(t, lims[p])
		for range workers {
			wg.Go(func() {
				for range 100 { // bounded: about 8 calls each fit in the window
					err := call(ctx, c, srv.URL, small)
					if err != nil {
						// Refused as the window closes, or admitted just
						// before and cut by it.
						if !errors.Is(err, context.DeadlineExceeded) {
							assert.ErrorIs(t, err, ratelimit.ErrLimited)
						}
						limited.Add(1)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	at := srv.times()
	require.NotEmpty(t, at)
	span := at[len(at)-1].Sub(at[0])
	// The fleet together: at most the burst plus 10/s (with a time margin
	// for scheduling), and not starved either.
	maxCalls := 10 + int((span+300*time.Millisecond).Seconds()*10)
	assert.LessOrEqual(t, len(at), maxCalls, "%d calls in %v", len(at), span)
	assert.GreaterOrEqual(t, len(at), 20, "%d calls in %v", len(at), span)
	for i := range at {
		for j := i; j < len(at); j++ {
			w := at[j].Sub(at[i])
			assert.LessOrEqual(t, j-i+1, 10+int((w+300*time.Millisecond).Seconds()*10), "arrivals %d..%d within %v", i, j, w)
		}
	}
	for _, l := range lims {
		st := l.Stats()
		assert.Positive(t, st.Redis.Reservations)
		assert.Zero(t, st.Redis.FailOpen, "last error: %s", st.Redis.LastError)
		assert.Zero(t, st.Redis.Errors, "last error: %s", st.Redis.LastError)
	}
	t.Logf("%d calls reached the server in %v; %d callers refused at their deadline", len(at), span, limited.Load())
}

func TestOneRoundTripPerCall(t *testing.T) {
	rs := startRedis(t)
	srv := newAPI(t)
	rdb := rs.client(t)
	var cmds atomic.Int64
	rdb.AddHook(countHook{&cmds})
	lim := newLimiter(t, rdb, redislimit.Config{
		RequestsPerMinute: 6000, TokensPerMinute: 1000000, FlushInterval: time.Hour,
	})
	c := clientFor(t, lim)
	require.NoError(t, call(t.Context(), c, srv.URL, small)) // loads the script (EVALSHA, then EVAL)
	cmds.Store(0)
	for range 5 {
		require.NoError(t, call(t.Context(), c, srv.URL, small))
	}
	// Each call's usage correction rides on the next call's round trip.
	assert.Equal(t, int64(5), cmds.Load())
}

type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "hello" && cmd.Name() != "client" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestCorrectionsShared(t *testing.T) {
	rs := startRedis(t)
	srv := newAPI(t)
	srv.usage.Store(100)
	cfg := redislimit.Config{TokensPerMinute: 1000, MaxWait: -1, Prefix: "test:corr:", FlushInterval: time.Hour}
	a := newLimiter(t, rs.client(t), cfg)
	b := newLimiter(t, rs.client(t), cfg)
	// a's call is estimated at 900 tokens but uses 100.
	require.NoError(t, call(t.Context(), clientFor(t, a), srv.URL, `{"max_tokens":900}`))
	// b shares the bucket: 100 left before the correction reaches Redis.
	err := call(t.Context(), clientFor(t, b), srv.URL, `{"max_tokens":500}`)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	// Closing a sends its pending correction; now 500 fit.
	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "Close twice is fine")
	require.NoError(t, call(t.Context(), clientFor(t, b), srv.URL, `{"max_tokens":500}`))
	assert.Positive(t, a.Stats().Redis.Flushes)
}

func TestFailOpenWhenRedisStops(t *testing.T) {
	rs := startRedis(t)
	srv := newAPI(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	lim := newLimiter(t, rs.client(t), redislimit.Config{
		RequestsPerMinute: 120, MaxWait: -1, Logger: logger,
		Processes: 4, RetryInterval: time.Minute, FlushInterval: time.Hour,
	})
	c := clientFor(t, lim)
	// The fleet's 120 per minute allow a burst of 2.
	require.NoError(t, call(t.Context(), c, srv.URL, small))
	require.NoError(t, call(t.Context(), c, srv.URL, small))

	rs.Stop()
	// Redis is gone: the local share, 120/4 = 30 per minute (one every
	// 2s, a burst of 1), admits one call and refuses the next; none hangs.
	start := time.Now()
	require.NoError(t, call(t.Context(), c, srv.URL, small))
	err := call(t.Context(), c, srv.URL, small)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, 3, srv.count())

	st := lim.Stats()
	assert.True(t, st.Redis.Degraded)
	assert.Equal(t, int64(1), st.Redis.Errors, "after a failure the fallback answers without asking Redis")
	assert.Equal(t, int64(2), st.Redis.FailOpen)
	assert.NotEmpty(t, st.Redis.LastError)
	logMu.Lock()
	assert.Contains(t, logs.String(), "failing open to a local share of 1/4")
	logMu.Unlock()
}

func TestFailClosedWhenRedisStops(t *testing.T) {
	rs := startRedis(t)
	srv := newAPI(t)
	lim := newLimiter(t, rs.client(t), redislimit.Config{
		RequestsPerMinute: 600, FailClosed: true,
	})
	c := clientFor(t, lim)
	require.NoError(t, call(t.Context(), c, srv.URL, small))
	rs.Stop()
	for range 3 {
		start := time.Now()
		err := call(t.Context(), c, srv.URL, small)
		require.ErrorIs(t, err, ratelimit.ErrLimited)
		assert.True(t, roundtripper.NotSent(err))
		assert.Contains(t, err.Error(), "redis unavailable")
		assert.Less(t, time.Since(start), 3*time.Second)
	}
	assert.Equal(t, 1, srv.count())
	st := lim.Stats()
	assert.Equal(t, int64(3), st.Redis.FailClosed)
	assert.True(t, st.Redis.Degraded)
}

func TestRecoversWhenRedisReturns(t *testing.T) {
	rs := startRedis(t)
	srv := newAPI(t)
	rdb := rs.client(t)
	lim := newLimiter(t, rdb, redislimit.Config{RetryInterval: 50 * time.Millisecond})
	c := clientFor(t, lim)
	// Point the client at a dead address, then back.
	require.NoError(t, call(t.Context(), c, srv.URL, small))
	rs.Stop()
	require.NoError(t, call(t.Context(), c, srv.URL, small))
	require.True(t, lim.Stats().Redis.Degraded)
	rs2 := startRedisAt(t, rs.Addr)
	if rs2 == nil {
		t.Skip("the old port was taken meanwhile")
	}
	require.Eventually(t, func() bool {
		return call(t.Context(), c, srv.URL, small) == nil && !lim.Stats().Redis.Degraded
	}, 10*time.Second, 20*time.Millisecond)
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

// BenchmarkCall is one uncontended call through the limiter: one Redis
// round trip to a local redis-server, the usage correction carried by the
// next call.
func BenchmarkCall(b *testing.B) {
	rs := startRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, Protocol: 2})
	defer rdb.Close()
	lim := redislimit.New(rdb, redislimit.Config{
		RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40, Prefix: "bench:", FlushInterval: time.Hour,
	})
	defer lim.Close()
	const respBody = `{"usage":{"total_tokens":15}}`
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(respBody))}, nil
	})
	rt := lim.Middleware()(next)
	req, _ := http.NewRequest(http.MethodPost, "http://api.example.invalid/v1/chat/completions", strings.NewReader(small))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.StopTimer()
	if st := lim.Stats(); st.Redis.Errors > 0 || st.Redis.FailOpen > 0 {
		b.Fatalf("redis failed during the benchmark: %+v", st.Redis)
	}
}

func TestRedisStopsUnderLoad(t *testing.T) {
	rs := startRedis(t)
	srv := newAPI(t)
	const procs, workers = 2, 3
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	lims := make([]*redislimit.Limiter, procs)
	var wg sync.WaitGroup
	var ok, limited atomic.Int64
	for p := range procs {
		lims[p] = newLimiter(t, rs.client(t), redislimit.Config{
			RequestsPerMinute: 1200, Processes: procs, Prefix: "test:load:", Timeout: 500 * time.Millisecond,
		})
		c := clientFor(t, lims[p])
		for range workers {
			wg.Go(func() {
				for range 200 {
					err := call(ctx, c, srv.URL, small)
					switch {
					case err == nil:
						ok.Add(1)
					case ctx.Err() != nil:
						return // cut by the end of the test's window
					default:
						assert.ErrorIs(t, err, ratelimit.ErrLimited)
						limited.Add(1)
					}
				}
			})
		}
	}
	// Stop Redis once some calls went through it.
	require.Eventually(t, func() bool { return srv.count() >= 5 }, 5*time.Second, 5*time.Millisecond)
	rs.Stop()
	stopped := srv.count()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callers hang after Redis stopped")
	}
	assert.Greater(t, srv.count(), stopped, "calls go on, from the local shares")
	for _, l := range lims {
		st := l.Stats()
		assert.True(t, st.Redis.Degraded)
		assert.Positive(t, st.Redis.FailOpen)
	}
	t.Logf("%d calls admitted (%d before Redis stopped), %d refused", ok.Load(), stopped, limited.Load())
}
