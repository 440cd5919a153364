package janitor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeDial returns a dial function over net.Pipe; the far ends go to peers.
func pipeDial(t *testing.T, peers chan<- net.Conn) DialFunc {
	return func(context.Context, string, string) (net.Conn, error) {
		a, b := net.Pipe()
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		peers <- b
		return a, nil
	}
}

type fixture struct {
	t     *testing.T
	j     *Janitor
	clk   *fakeClock
	dial  DialFunc
	peers chan net.Conn
}

func newFixture(t *testing.T, cfg Config) *fixture {
	clk := newFakeClock()
	j := newJanitor(cfg, clk)
	t.Cleanup(func() { _ = j.Close() })
	peers := make(chan net.Conn, 16)
	return &fixture{t: t, j: j, clk: clk, dial: j.WrapDial(pipeDial(t, peers)), peers: peers}
}

func (f *fixture) dialConn() (net.Conn, net.Conn) {
	c, err := f.dial(f.t.Context(), "tcp", "api.example.com:443")
	require.NoError(f.t, err)
	return c, <-f.peers
}

// use simulates one request on c, as the middleware sees it.
func (f *fixture) use(c net.Conn, reused bool) *reqState {
	rs := &reqState{j: f.j}
	rs.gotConn(httptrace.GotConnInfo{Conn: c, Reused: reused})
	return rs
}

// waitSwept waits until the sweeper has armed a timer for the earliest due
// time, so that an Advance afterwards is seen.
func (f *fixture) waitArmed(n int) {
	require.Eventually(f.t, func() bool { return f.clk.Timers() == n }, 10*time.Second, time.Millisecond)
}

// isClosed reports whether c was closed; a pipe write that would block
// fails at once with a deadline error instead.
func isClosed(c net.Conn) bool {
	_ = c.SetWriteDeadline(time.Now().Add(-time.Second))
	defer c.SetWriteDeadline(time.Time{})
	_, err := c.Write([]byte{0})
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func TestIdleClose(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: time.Minute})
	c, peer := f.dialConn()
	f.use(c, false).done()
	f.waitArmed(1)
	assert.Equal(t, Stats{Dialed: 1, Open: 1, Idle: 1}, f.j.Stats())

	f.clk.Advance(59 * time.Second)
	f.waitArmed(1) // re-armed for the remaining second
	assert.Equal(t, 1, f.j.Stats().Open)

	f.clk.Advance(time.Second)
	require.Eventually(t, func() bool { return f.j.Stats().ClosedIdle == 1 }, 10*time.Second, time.Millisecond)
	assert.True(t, isClosed(c))
	buf := make([]byte, 1)
	_, err := peer.Read(buf)
	assert.Error(t, err, "the server side sees the close")
	assert.Equal(t, Stats{Dialed: 1, ClosedIdle: 1}, f.j.Stats())
}

func TestBusyConnectionIsNeverCut(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: time.Minute, MaxLifetime: 2 * time.Minute, MaxRequestsPerConn: 1})
	c, _ := f.dialConn()
	rs := f.use(c, false)
	assert.Equal(t, 1, f.j.Stats().InUse)
	// A long stream: hours pass, the connection is due three times over.
	for range 10 {
		f.clk.Advance(time.Hour)
	}
	assert.Equal(t, Stats{Dialed: 1, Open: 1, InUse: 1}, f.j.Stats())
	assert.False(t, isClosed(c))
	rs.done() // the stream ends: now it is retired at once
	st := f.j.Stats()
	assert.Equal(t, 0, st.Open)
	assert.Equal(t, int64(1), st.ClosedRequests+st.ClosedLifetime)
}

func TestRetirement(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		requests int
		advance  time.Duration
		want     Stats
	}{
		{"requests", Config{MaxRequestsPerConn: 3}, 3, 0, Stats{Dialed: 1, ClosedRequests: 1}},
		{"below requests", Config{MaxRequestsPerConn: 3}, 2, 0, Stats{Dialed: 1, Open: 1, Idle: 1}},
		{"lifetime", Config{MaxLifetime: time.Minute, IdleTimeout: -1}, 1, time.Minute, Stats{Dialed: 1, ClosedLifetime: 1}},
		{"lifetime not yet", Config{MaxLifetime: time.Minute, IdleTimeout: -1}, 1, 59 * time.Second, Stats{Dialed: 1, Open: 1, Idle: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			c, _ := f.dialConn()
			for i := range tt.requests {
				rs := f.use(c, i > 0)
				if i == tt.requests-1 {
					f.clk.Advance(tt.advance) // while busy
				}
				rs.done()
			}
			assert.Equal(t, tt.want, f.j.Stats())
		})
	}
}

func TestLifetimeOfIdleConnection(t *testing.T) {
	f := newFixture(t, Config{MaxLifetime: 10 * time.Minute, IdleTimeout: time.Hour})
	c, _ := f.dialConn()
	f.use(c, false).done()
	f.waitArmed(1)
	f.clk.Advance(10 * time.Minute)
	require.Eventually(t, func() bool { return f.j.Stats().ClosedLifetime == 1 }, 10*time.Second, time.Millisecond)
	assert.True(t, isClosed(c))
}

func TestPickingADueConnectionClosesItFirst(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: time.Minute})
	c, _ := f.dialConn()
	f.use(c, false).done()
	f.j.stopSweep() // no sweeper: only the check at pick time
	f.clk.Advance(time.Minute)
	rs := f.use(c, true)
	assert.True(t, isClosed(c), "closed before the request writes anything")
	assert.Equal(t, Stats{Dialed: 1, ClosedIdle: 1, Refused: 1}, f.j.Stats())
	rs.done() // net/http re-sends elsewhere; nothing breaks

	// A fresh connection is never closed at pick time (net/http would not
	// re-send), nor one not yet due.
	c2, _ := f.dialConn()
	f.clk.Advance(2 * time.Minute)
	f.use(c2, false).done()
	f.clk.Advance(59 * time.Second)
	f.use(c2, true).done()
	assert.False(t, isClosed(c2))
}

func TestKeepAliveHint(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		header string
		after  time.Duration // when it must be closed
	}{
		{"shorter than idle timeout", Config{IdleTimeout: time.Minute}, "timeout=5, max=100", 4 * time.Second},
		{"longer than idle timeout", Config{IdleTimeout: time.Minute}, "timeout=120", time.Minute},
		{"custom margin", Config{IdleTimeout: time.Minute, KeepAliveMargin: 2 * time.Second}, "timeout=5", 3 * time.Second},
		{"ignored", Config{IdleTimeout: time.Minute, KeepAliveMargin: -1}, "timeout=5", time.Minute},
		{"idle timeout off", Config{IdleTimeout: -1}, "timeout=10", 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			c, _ := f.dialConn()
			rs := f.use(c, false)
			rs.response(&http.Response{ProtoMajor: 1, Header: http.Header{"Keep-Alive": {tt.header}}})
			rs.done()
			f.waitArmed(1)
			f.clk.Advance(tt.after - time.Millisecond)
			f.waitArmed(1)
			assert.Equal(t, 1, f.j.Stats().Open)
			f.clk.Advance(time.Millisecond)
			require.Eventually(t, func() bool { return f.j.Stats().ClosedIdle == 1 }, 10*time.Second, time.Millisecond)
		})
	}
}

func TestCloseReasons(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: -1})
	// The server closes: the transport's read sees EOF, then it closes.
	c, peer := f.dialConn()
	require.NoError(t, peer.Close())
	_, err := c.Read(make([]byte, 1))
	require.Error(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close() /* net.Pipe: twice is fine */)

	// "Connection: close" in a response.
	c, _ = f.dialConn()
	rs := f.use(c, false)
	rs.response(&http.Response{ProtoMajor: 1, Close: true, Header: http.Header{}})
	rs.done()
	require.NoError(t, c.Close())

	// The transport's own reasons.
	c, _ = f.dialConn()
	require.NoError(t, c.Close())

	assert.Equal(t, Stats{Dialed: 3, ClosedServer: 2, ClosedOther: 1}, f.j.Stats())
}

func TestRetryOnAnotherConnectionMovesTheCount(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: time.Hour})
	c1, _ := f.dialConn()
	c2, _ := f.dialConn()
	rs := f.use(c1, false)
	rs.gotConn(httptrace.GotConnInfo{Conn: c2}) // net/http re-sent it on c2
	st := f.j.Stats()
	assert.Equal(t, 1, st.InUse)
	assert.Equal(t, 1, st.Idle)
	rs.done()
	rs.done()
	assert.Equal(t, 2, f.j.Stats().Idle)
}

func TestForeignConnectionsAreIgnored(t *testing.T) {
	f := newFixture(t, Config{})
	other := newFixture(t, Config{})
	c, _ := other.dialConn()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	f.use(c, false).done()
	f.use(a, false).done()
	assert.Equal(t, Stats{}, f.j.Stats())
}

func TestCloseIsIdempotent(t *testing.T) {
	j := New(Config{})
	require.NoError(t, j.Close())
	require.NoError(t, j.Close())
}

func TestUnreportedConnectionIsLeftAlone(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: time.Second, MaxLifetime: time.Minute})
	c, _ := f.dialConn() // no request reports it: maybe busy without the middleware
	for range 5 {
		f.clk.Advance(time.Hour)
	}
	assert.False(t, isClosed(c))
	assert.Equal(t, Stats{Dialed: 1, Open: 1, InUse: 1}, f.j.Stats())
}

// TestCloseClosesIdleConnections: after Close, an idle connection is closed
// at once and a busy one as soon as its request ends (over HTTP/2 the
// stream may end after the caller's CloseIdleConnections); one never
// reported by the middleware is left to the transport.
func TestCloseClosesIdleConnections(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: -1})
	idle, _ := f.dialConn()
	f.use(idle, false).done()
	busy, _ := f.dialConn()
	rs := f.use(busy, false)
	h2, _ := f.dialConn()
	h2rs := f.use(h2, false)
	h2rs.response(&http.Response{ProtoMajor: 2, Header: http.Header{}})
	unreported, _ := f.dialConn()

	require.NoError(t, f.j.Close())
	assert.True(t, isClosed(idle), "idle at Close")
	assert.False(t, isClosed(busy), "busy at Close")
	assert.False(t, isClosed(h2), "busy at Close")
	rs.done()
	assert.True(t, isClosed(busy), "idle after Close")
	h2rs.done()
	assert.True(t, isClosed(h2), "idle after Close")
	assert.False(t, isClosed(unreported))
	require.NoError(t, f.j.Close())
	st := f.j.Stats()
	assert.Equal(t, int64(3), st.ClosedOther)
	assert.Equal(t, 1, st.Open)
}

// TestSweeperLooksOnlyAtDueConnections: with n idle connections expiring
// one after another, each wake of the sweeper looks at the connections due,
// not at all of them (a rescan was n² over the expiries).
func TestSweeperLooksOnlyAtDueConnections(t *testing.T) {
	const n = 50
	f := newFixture(t, Config{IdleTimeout: time.Second})
	f.peers = make(chan net.Conn, n)
	f.dial = f.j.WrapDial(pipeDial(t, f.peers))
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i], _ = f.dialConn()
		f.use(conns[i], false).done()
		f.clk.Advance(10 * time.Millisecond) // each due 10ms after the one before
	}
	f.waitArmed(1)
	f.clk.Advance(time.Second - n*10*time.Millisecond - 10*time.Millisecond)
	for i := range conns {
		f.waitArmed(1)
		f.clk.Advance(10 * time.Millisecond)
		require.Eventually(t, func() bool { return f.j.Stats().ClosedIdle >= int64(i+1) }, 10*time.Second, time.Millisecond, "step %d: %+v, timers %d", i, f.j.Stats(), f.clk.Timers())
	}
	f.j.mu.Lock()
	looked := f.j.looked
	f.j.mu.Unlock()
	assert.LessOrEqual(t, looked, int64(2*n), "looked at %d connections for %d expiries", looked, n)
	for _, c := range conns {
		assert.True(t, isClosed(c))
	}
}
