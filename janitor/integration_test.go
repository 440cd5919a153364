package janitor

import (
	"context"
	"crypto/tls"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/transport"
)

// requestsPerConn returns the requests each connection served, in the order
// the server accepted them.
func requestsPerConn(srv *testserver.Server) []int64 {
	per := srv.Stats().RequestsPerConn
	ids := slices.Sorted(maps.Keys(per))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		out = append(out, per[id])
	}
	return out
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stack wires a Janitor the way the llmhttp root package does: its dialer
// under the transport, its middleware directly around it.
func stack(t testing.TB, jcfg Config, tcfg transport.Config) (*Janitor, http.RoundTripper) {
	j := New(jcfg)
	tcfg.DialContext = j.WrapDial(tcfg.DialContext)
	tr := transport.New(tcfg)
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = j.Close()
	})
	return j, roundtripper.Chain(tr, j.Middleware())
}

func TestIdleCloseSeenByServer(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	j, rt := stack(t, Config{IdleTimeout: 100 * time.Millisecond}, transport.Config{})
	require.NoError(t, call(t.Context(), rt, srv.URL()))
	require.Eventually(t, func() bool { return srv.Stats().ConnsClosed == 1 }, 10*time.Second, 5*time.Millisecond,
		"the server sees the idle connection closed")
	assert.Equal(t, Stats{Dialed: 1, ClosedIdle: 1}, j.Stats())
	require.NoError(t, call(t.Context(), rt, srv.URL()))
	assert.Equal(t, int64(2), srv.Stats().ConnsAccepted)
}

func TestRequestCountRetirementSeenByServer(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	j, rt := stack(t, Config{MaxRequestsPerConn: 3}, transport.Config{})
	for range 10 {
		require.NoError(t, call(t.Context(), rt, srv.URL()))
	}
	assert.Equal(t, []int64{3, 3, 3, 1}, requestsPerConn(srv))
	require.Eventually(t, func() bool { return srv.Stats().ConnsClosed == 3 }, 10*time.Second, 5*time.Millisecond)
	st := j.Stats()
	assert.Equal(t, int64(3), st.ClosedRequests)
	assert.Equal(t, 1, st.Open)
}

func TestLifetimeRetirementSeenByServer(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	const lifetime = 150 * time.Millisecond
	j, rt := stack(t, Config{MaxLifetime: lifetime}, transport.Config{})
	deadline := time.Now().Add(20 * time.Second)
	calls := 0
	for srv.Stats().ConnsAccepted < 3 && time.Now().Before(deadline) && calls < 100_000 {
		require.NoError(t, call(t.Context(), rt, srv.URL()))
		calls++
	}
	require.GreaterOrEqual(t, srv.Stats().ConnsAccepted, int64(3), "connections are replaced as they age")
	assert.GreaterOrEqual(t, j.Stats().ClosedLifetime, int64(2))
	require.Eventually(t, func() bool { return srv.Stats().ConnsClosed >= 2 }, 10*time.Second, 5*time.Millisecond,
		"the server sees them closed")
	t.Logf("%d back-to-back calls over %d connections of at most %v", calls, srv.Stats().ConnsAccepted, lifetime)
}

func TestKeepAliveHintSeenByServer(t *testing.T) {
	// The server closes connections idle 2s, and says so: "Keep-Alive: timeout=2".
	srv := testserver.New(t, testserver.Config{KeepAliveTimeout: 2 * time.Second})
	// A margin of 1.8s leaves 200ms of the server's 2s.
	j, rt := stack(t, Config{IdleTimeout: time.Hour, KeepAliveMargin: 1800 * time.Millisecond}, transport.Config{})
	start := time.Now()
	require.NoError(t, call(t.Context(), rt, srv.URL()))
	require.Eventually(t, func() bool { return srv.Stats().ConnsClosed == 1 }, 10*time.Second, 5*time.Millisecond)
	assert.Less(t, time.Since(start), 1900*time.Millisecond, "closed before the server's timeout")
	assert.Equal(t, int64(1), j.Stats().ClosedIdle)
}

func TestHTTP2Tracking(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Protocol: testserver.TLS})
	roots := srv.Transport().TLSClientConfig.RootCAs
	j, rt := stack(t, Config{IdleTimeout: 300 * time.Millisecond}, transport.Config{TLSClientConfig: &tls.Config{RootCAs: roots}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { assert.NoError(t, call(t.Context(), rt, srv.URL())) })
	}
	wg.Wait()
	// Concurrent first requests may dial several connections; net/http
	// keeps one for HTTP/2 (all streams share it) and closes the others.
	st := j.Stats()
	assert.Zero(t, st.InUse-(int(st.Dialed)-1-int(st.ClosedOther)), "%+v", st)
	require.Eventually(t, func() bool { st := j.Stats(); return st.ClosedIdle+st.ClosedOther == st.Dialed }, 10*time.Second, 5*time.Millisecond)
	st = j.Stats()
	assert.Equal(t, int64(1), st.ClosedIdle, "%+v", st)
	assert.Equal(t, st.Dialed-1, st.ClosedOther)
	assert.Zero(t, st.Open)
	require.Eventually(t, func() bool { st := srv.Stats(); return st.ConnsAccepted == st.ConnsClosed }, 10*time.Second, 5*time.Millisecond)
}

func TestComposesWithCallerTrace(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	j, rt := stack(t, Config{}, transport.Config{})
	var got, put atomic.Int64
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn:     func(httptrace.GotConnInfo) { got.Add(1) },
		PutIdleConn: func(error) { put.Add(1) },
	})
	require.NoError(t, call(ctx, rt, srv.URL()))
	assert.Equal(t, int64(1), got.Load())
	assert.Equal(t, int64(1), put.Load())
	assert.Equal(t, 1, j.Stats().Idle, "and the janitor saw them too")
}

// TestIdleCloseRacesUnderLoad closes idle connections as fast as it can
// while concurrent POSTs keep picking them from the pool: no request fails,
// because a connection is closed only while no request has it, and a request
// that picks one being closed has written nothing, so net/http re-sends it.
func TestIdleCloseRacesUnderLoad(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	j, rt := stack(t, Config{IdleTimeout: time.Millisecond}, transport.Config{MaxConnsPerHost: 8})
	const workers, calls = 16, 4000
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			pace := time.NewTimer(0)
			defer pace.Stop()
			for next.Add(1) <= calls {
				// Pacing, not waiting for anything: gaps around the
				// idle timeout put picks and closes at the same instants.
				pace.Reset(time.Duration(rng.IntN(1500)) * time.Microsecond)
				<-pace.C
				if err := call(ctx, rt, srv.URL()); err != nil {
					if failed.Add(1) == 1 {
						t.Logf("first failure: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	st := j.Stats()
	t.Logf("%d calls: %d connections dialed, %d closed idle", calls, st.Dialed, st.ClosedIdle)
	assert.Zero(t, failed.Load())
	assert.Greater(t, st.ClosedIdle, int64(50), "the janitor closed many connections meanwhile")
}
