package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// burst sends calls requests from workers goroutines at once and returns the
// number of failures.
func burst(t *testing.T, rt http.RoundTripper, url string, workers, calls int) int64 {
	t.Helper()
	var failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(calls) {
				if err := call(ctx, rt, url); err != nil {
					if failed.Add(1) == 1 {
						t.Logf("first failure: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	return failed.Load()
}

func TestBurstReusesConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 calls twice")
	}
	const workers, calls = 200, 10_000

	ours := testserver.New(t, testserver.Config{})
	var g gauge
	cfg := HighConcurrency
	cfg.DialContext = g.dial
	tr := New(cfg)
	defer tr.CloseIdleConnections()
	require.Zero(t, burst(t, tr, ours.URL(), workers, calls))
	st := ours.Stats()
	oursConns := st.ConnsAccepted
	limit := int64(HighConcurrency.MaxConnsPerHost)
	assert.LessOrEqual(t, g.max.Load(), limit, "never more connections open at once than configured")
	assert.LessOrEqual(t, st.MaxInFlight, limit)
	// net/http drops a connection whose request write it did not see
	// finish within 50ms of the response (a loaded machine gets there);
	// each one dropped is replaced. Nothing else closes any.
	assert.LessOrEqual(t, oursConns, limit+g.closed.Load(), "every connection opened is kept and reused")
	assert.LessOrEqual(t, oursConns, limit+limit/5)
	assert.Equal(t, int64(calls), st.Requests)
	tst := tr.Stats()
	assert.Zero(t, tst.InFlight)
	assert.Zero(t, tst.Waiting)
	assert.Equal(t, oursConns, tst.Hosts[ours.Addr()].ConnsOpened)

	// A transport like http.DefaultTransport (a fresh one, not the global):
	// MaxIdleConnsPerHost of 2 makes it close most connections after one use.
	theirs := testserver.New(t, testserver.Config{})
	def := http.DefaultTransport.(*http.Transport).Clone()
	defer def.CloseIdleConnections()
	require.Zero(t, burst(t, def, theirs.URL(), workers, calls))
	theirConns := theirs.Stats().ConnsAccepted

	ratio := float64(theirConns) / float64(oursConns)
	t.Logf("%d calls, %d workers: transport.HighConcurrency opened %d connections (at most %d at once; %d dropped by net/http), http.DefaultTransport clone %d (ratio %.1f)",
		calls, workers, oursConns, g.max.Load(), g.closed.Load(), theirConns, ratio)
	assert.Greater(t, ratio, 3.0, "the default transport should open many times more connections")
}

// gauge dials connections and counts those open, at most and closed.
type gauge struct {
	open, max, closed atomic.Int64
}

func (g *gauge) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	n := g.open.Add(1)
	for m := g.max.Load(); n > m && !g.max.CompareAndSwap(m, n); m = g.max.Load() {
	}
	return &gaugeConn{Conn: c, g: g}, nil
}

type gaugeConn struct {
	net.Conn
	g    *gauge
	once sync.Once
}

func (c *gaugeConn) NetConn() net.Conn { return c.Conn }

func (c *gaugeConn) Close() error {
	c.once.Do(func() {
		c.g.open.Add(-1)
		c.g.closed.Add(1)
	})
	return c.Conn.Close()
}

func TestPoolTimeout(t *testing.T) {
	// The first two requests are held by the server until their callers
	// go away; the rest are answered at once.
	held := testserver.Fault{HeaderDelay: time.Hour}
	srv := testserver.New(t, testserver.Config{Script: []testserver.Fault{held, held}})
	const poolTimeout = 300 * time.Millisecond
	tr := New(Config{MaxConnsPerHost: 2, PoolTimeout: poolTimeout})
	defer tr.CloseIdleConnections()
	host := srv.Addr()

	// Saturate the host: two calls held by the server.
	holdCtx, stopHolders := context.WithCancel(t.Context())
	defer stopHolders()
	var holders sync.WaitGroup
	for range 2 {
		holders.Go(func() { assert.ErrorIs(t, call(holdCtx, tr, srv.URL()), context.Canceled) })
	}
	require.Eventually(t, func() bool { return srv.Stats().InFlight == 2 }, 10*time.Second, 5*time.Millisecond)

	// Every waiter fails with ErrPoolTimeout within the timeout plus a
	// margin, and none is left in line.
	const waiters = 20
	errs := make([]error, waiters)
	took := make([]time.Duration, waiters)
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Go(func() {
			start := time.Now()
			errs[i] = call(t.Context(), tr, srv.URL())
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	var slowest time.Duration
	for i := range waiters {
		require.ErrorIs(t, errs[i], ErrPoolTimeout)
		var pte *PoolTimeoutError
		require.ErrorAs(t, errs[i], &pte)
		assert.Equal(t, host, pte.Host)
		assert.True(t, roundtripper.NotSent(errs[i]))
		assert.Equal(t, fmt.Sprintf("transport: pool timeout: %s after 300ms", host), errs[i].Error())
		assert.GreaterOrEqual(t, took[i], poolTimeout)
		assert.Less(t, took[i], poolTimeout+time.Second, "pool timeout must be prompt")
		slowest = max(slowest, took[i])
	}
	t.Logf("pool timeout %v: %d waiters failed after at most %v", poolTimeout, waiters, slowest)
	st := tr.Stats()
	assert.Zero(t, st.Waiting, "no waiter left behind")
	assert.Equal(t, 2, st.InFlight)
	assert.Equal(t, int64(waiters), st.Hosts[host].PoolTimeouts)
	assert.Equal(t, int64(2), srv.Stats().Requests, "timed-out requests never reached the server")

	stopHolders()
	holders.Wait()
	assert.Zero(t, tr.Stats().InFlight, "slots come back when calls end")
	require.NoError(t, call(t.Context(), tr, srv.URL()))
	st = tr.Stats()
	assert.Zero(t, st.InFlight)
	assert.Zero(t, st.Waiting)
}

func TestPoolWaitEndsWithContext(t *testing.T) {
	srv := newTestServer(t, serverOpts{})
	release := srv.holdRequests()
	defer release()
	tr := New(Config{MaxConnsPerHost: 1, PoolTimeout: -1})
	defer tr.CloseIdleConnections()

	var holder sync.WaitGroup
	holder.Go(func() { assert.NoError(t, call(t.Context(), tr, srv.URL)) })
	require.Eventually(t, func() bool { return srv.inFlight.Load() == 1 }, 10*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- call(ctx, tr, srv.URL) }()
	require.Eventually(t, func() bool { return tr.Stats().Waiting == 1 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrPoolTimeout)
	assert.Zero(t, tr.Stats().Waiting)

	release()
	holder.Wait()
	assert.Zero(t, tr.Stats().InFlight)
}

func TestPoolWaitTrace(t *testing.T) {
	srv := newTestServer(t, serverOpts{})
	tr := New(Config{})
	defer tr.CloseIdleConnections()
	var waits []time.Duration
	ctx := roundtripper.WithTrace(t.Context(), &roundtripper.Trace{PoolWait: func(d time.Duration) { waits = append(waits, d) }})
	require.NoError(t, call(ctx, tr, srv.URL))
	assert.Equal(t, []time.Duration{0}, waits)
}

func TestStreamsBodyWithoutBuffering(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	tr := New(Streaming)
	defer tr.CloseIdleConnections()

	resp, err := tr.RoundTrip(httptest.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil).WithContext(t.Context()))
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 64)
	n, err := resp.Body.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "data: one\n\n", string(buf[:n]), "the first event arrives before the stream ends")
	assert.Equal(t, 1, tr.Stats().InFlight, "a stream holds its slot")
	close(next)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "data: [DONE]\n\n", string(rest))
	assert.Zero(t, tr.Stats().InFlight)
}

func TestHTTP2OverTLS(t *testing.T) {
	srv := newTestServer(t, serverOpts{tls: true})
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr := New(Config{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: (&net.Dialer{}).DialContext})
	defer tr.CloseIdleConnections()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/models", nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2 is negotiated on TLS even with a dial hook")
	assert.Zero(t, tr.Stats().InFlight)
}

func TestH2C(t *testing.T) {
	srv := newTestServer(t, serverOpts{h2c: true})
	tr := New(Config{H2C: true})
	defer tr.CloseIdleConnections()
	var protos []int
	for range 3 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		protos = append(protos, resp.ProtoMajor)
	}
	assert.Equal(t, []int{2, 2, 2}, protos)
	assert.Equal(t, int64(1), srv.accepted.Load())
}

func TestDialErrorIsNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	tr := New(Config{})
	defer tr.CloseIdleConnections()
	err = call(t.Context(), tr, "http://"+addr)
	require.Error(t, err)
	var de *DialError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, addr, de.Addr)
	assert.True(t, roundtripper.NotSent(err))
	assert.Zero(t, tr.Stats().InFlight)
}

func TestDialHookAndKeepAlive(t *testing.T) {
	srv := newTestServer(t, serverOpts{})
	var dialed atomic.Int64
	var sawTCP atomic.Bool
	tr := New(Config{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed.Add(1)
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_, ok := c.(*net.TCPConn)
			sawTCP.Store(ok)
		}
		return c, err
	}})
	defer tr.CloseIdleConnections()
	for range 3 {
		require.NoError(t, call(t.Context(), tr, srv.URL))
	}
	assert.Equal(t, int64(1), dialed.Load())
	assert.True(t, sawTCP.Load())
}

func TestComposesWithClientTrace(t *testing.T) {
	srv := newTestServer(t, serverOpts{})
	tr := New(Config{})
	defer tr.CloseIdleConnections()
	var got atomic.Int64
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { got.Add(1) }})
	require.NoError(t, call(ctx, tr, srv.URL))
	assert.Equal(t, int64(1), got.Load())
}

func TestErrorsMatch(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &PoolTimeoutError{Host: "api.example.com:443", Waited: 2 * time.Second})
	assert.ErrorIs(t, err, ErrPoolTimeout)
	assert.Equal(t, "wrapped: transport: pool timeout: api.example.com:443 after 2s", err.Error())
	assert.True(t, roundtripper.NotSent(err))
	assert.False(t, errors.Is(&DialError{Addr: "x", Err: io.EOF}, ErrPoolTimeout))
	assert.ErrorIs(t, &DialError{Addr: "x", Err: io.EOF}, io.EOF)
}
