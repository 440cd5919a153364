package janitor

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/transport"
)

// raceRun is one keep-alive race: calls sequential POSTs, one in every gap
// of them sent after an idle pause aimed at the boundaries where a request
// and a close can meet.
type raceRun struct {
	seed   uint64
	calls  int
	every  int           // one call in this many comes after an idle pause
	expiry time.Duration // the janitor's idle expiry for the connection
	server time.Duration // the server's keep-alive timeout
}

// raceResult counts what happened to the calls after a pause.
type raceResult struct {
	failed    int
	paused    int
	reused    int           // paused calls sent on a pooled connection
	maxReused time.Duration // the longest pause after which a pooled connection was used
	took      time.Duration
}

// pause returns an idle gap: six in ten fall within 10ms below to 1ms
// above the janitor's expiry, where its decision flips (it counts idle time
// from the kernel's record of the last data, rounded to its tick, so it
// may decide a few ms early) and where a request that still gets the pooled
// connection has the least time left before the server's close; three in
// ten between the two expiries, where the janitor must have closed the
// connection or refuse the write; one in ten around the server's own
// timeout.
func (r raceRun) pause(rng *rand.Rand) time.Duration {
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	switch p := rng.IntN(10); {
	case p < 6:
		return between(r.expiry-10*time.Millisecond, r.expiry+time.Millisecond)
	case p < 9:
		return between(r.expiry+time.Millisecond, r.server)
	default:
		return between(r.server-2*time.Millisecond, r.server+3*time.Millisecond)
	}
}

// run sends the calls through rt to url.
func (r raceRun) run(t *testing.T, rt http.RoundTripper, url string) raceResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(r.seed, 2))
	pace := time.NewTimer(time.Hour)
	defer pace.Stop()
	var res raceResult
	start := time.Now()
	last := start
	for i := range r.calls {
		paused := i%r.every == r.every-1
		if paused {
			// The pause is the scenario (the connection lies idle in the
			// pool this long), not a wait for anything. It is measured
			// from the end of the previous call, as the pool sees it.
			pace.Reset(time.Until(last.Add(r.pause(rng))))
			<-pace.C
			res.paused++
		}
		var info httptrace.GotConnInfo
		tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(gi httptrace.GotConnInfo) { info = gi }})
		idle := time.Since(last)
		err := call(tctx, rt, url)
		last = time.Now()
		if paused && info.Reused {
			res.reused++
			res.maxReused = max(res.maxReused, idle)
		}
		if err != nil {
			if res.failed++; res.failed <= 3 {
				t.Logf("call %d, after %v idle, on a connection reused=%v (idle %v), failed: %v",
					i, idle.Round(100*time.Microsecond), info.Reused, info.IdleTime, err)
			}
		}
	}
	res.took = time.Since(start)
	return res
}

// runLanes runs lanes copies of r side by side, each with a transport of
// its own over the janitor j (so each lane's calls are sequential on its
// own connections), and adds up their results.
func (r raceRun) runLanes(t *testing.T, j *Janitor, lanes int, url string) raceResult {
	t.Helper()
	results := make([]raceResult, lanes)
	var wg sync.WaitGroup
	for i := range lanes {
		tr := transport.New(transport.Config{DialContext: j.WrapDial(nil)})
		t.Cleanup(tr.CloseIdleConnections)
		lane := r
		lane.seed, lane.calls = uint64(i+1), r.calls/lanes
		wg.Go(func() { results[i] = lane.run(t, roundtripper.Chain(tr, j.Middleware()), url) })
	}
	wg.Wait()
	var sum raceResult
	for _, res := range results {
		sum.failed += res.failed
		sum.paused += res.paused
		sum.reused += res.reused
		sum.maxReused = max(sum.maxReused, res.maxReused)
		sum.took = max(sum.took, res.took)
	}
	return sum
}

func (r raceRun) report(t *testing.T, peer string, res raceResult, st Stats) {
	t.Helper()
	t.Logf("%s: %d calls, %d after a pause (janitor expiry %v, server %v): %d failed; %d paused calls reused a connection (longest pause %v); %d connections, closed idle %d, by the server %d, by errors %d; refused by the write guard %d, re-sent %d; %v",
		peer, r.calls, res.paused, r.expiry, r.server, res.failed, res.reused, res.maxReused.Round(100*time.Microsecond),
		st.Dialed, st.ClosedIdle, st.ClosedServer, st.ClosedError, st.Refused, st.Resent, res.took.Round(time.Millisecond))
}

// The race tests send 5,000 sequential POSTs against a server whose
// keep-alive timeout is just above the janitor's expiry (50ms against 60ms),
// one in ten after a pause aimed at the expiries: 500 pauses, 30-40s
// under the race detector. The race is at the expiry boundary, not in the
// calls between pauses (a connection reused at once is far from either
// timeout), so only the pauses are spent there. None may fail. The janitor's timer closes
// most due connections before a request picks them; the write guard
// catches the rest, refusing the first write of a request onto a connection
// whose data last arrived (by the kernel's clock) an expiry ago, so that
// net/http sends it on a new connection.
const raceCalls, raceEvery = 5000, 10 // calls, and one pause in every raceEvery calls

func TestKeepAliveRace(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 paced calls")
	}
	r := raceRun{calls: raceCalls, every: raceEvery, expiry: 50 * time.Millisecond, server: 60 * time.Millisecond}
	srv := testserver.New(t, testserver.Config{KeepAliveTimeout: r.server})
	// The testserver's hint rounds up to whole seconds (timeout=1 here), so
	// the janitor ignores it and keeps to IdleTimeout.
	j, rt := stack(t, Config{IdleTimeout: r.expiry, KeepAliveMargin: -1}, transport.Config{})
	res := r.run(t, rt, srv.URL())
	st := j.Stats()
	r.report(t, "testserver", res, st)
	assert.Zero(t, res.failed)
	assert.Positive(t, st.ClosedIdle)
	assert.Less(t, res.maxReused, r.server, "no request went on a connection idle past the server's timeout")
}

func TestKeepAliveRaceHint(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 paced calls")
	}
	// The server closes connections idle 1s and says "Keep-Alive:
	// timeout=1"; the janitor, with an idle timeout of an hour, derives its
	// expiry from the hint: 1s minus a margin of 60ms. Pauses of a second
	// are dear, so ten lanes run side by side, each 500 sequential calls on
	// a transport of its own, one in 25 after a pause: 200 pauses at the
	// boundaries in about 20s.
	r := raceRun{calls: raceCalls, every: 25, expiry: 940 * time.Millisecond, server: time.Second}
	srv := testserver.New(t, testserver.Config{KeepAliveTimeout: r.server})
	j := New(Config{IdleTimeout: time.Hour, KeepAliveMargin: 60 * time.Millisecond})
	t.Cleanup(func() { _ = j.Close() })
	res := r.runLanes(t, j, 10, srv.URL())
	st := j.Stats()
	r.report(t, "testserver, hint, 10 lanes", res, st)
	assert.Zero(t, res.failed)
	assert.Positive(t, st.ClosedIdle)
	assert.Less(t, res.maxReused, r.server)
}

func TestKeepAliveRaceNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 paced calls")
	}
	r := raceRun{calls: raceCalls, every: raceEvery, expiry: 50 * time.Millisecond, server: 60 * time.Millisecond}
	srv := testserver.New(t, testserver.Config{})
	url := startNginx(t, srv.Addr(), r.server, 0)
	j, rt := stack(t, Config{IdleTimeout: r.expiry}, transport.Config{})
	require.NoError(t, call(t.Context(), rt, url), "nginx proxies to the test server")
	res := r.run(t, rt, url)
	st := j.Stats()
	r.report(t, "nginx", res, st)
	assert.Zero(t, res.failed)
	assert.Positive(t, st.ClosedIdle)
	assert.Less(t, res.maxReused, r.server)
}

func TestKeepAliveRaceNginxHint(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 paced calls")
	}
	// As TestKeepAliveRaceHint, with nginx closing connections idle 1s
	// and saying "Keep-Alive: timeout=1".
	r := raceRun{calls: raceCalls, every: 25, expiry: 940 * time.Millisecond, server: time.Second}
	srv := testserver.New(t, testserver.Config{})
	url := startNginx(t, srv.Addr(), r.server, 1)
	j := New(Config{IdleTimeout: time.Hour, KeepAliveMargin: 60 * time.Millisecond})
	t.Cleanup(func() { _ = j.Close() })
	res := r.runLanes(t, j, 10, url)
	st := j.Stats()
	r.report(t, "nginx, hint, 10 lanes", res, st)
	assert.Zero(t, res.failed)
	assert.Positive(t, st.ClosedIdle)
	assert.Less(t, res.maxReused, r.server)
}
