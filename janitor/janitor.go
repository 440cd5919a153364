package janitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DialFunc dials a connection; it has the signature of
// net.Dialer.DialContext and of transport.Config.DialContext.
type DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// reason says why a connection was closed.
type reason int32

const (
	reasonNone reason = iota
	reasonIdle
	reasonLifetime
	reasonRequests
	reasonServer
	reasonError
	reasonOther
	numReasons
)

// Janitor tracks the connections it dialed and closes them when they are due.
// Create one with New, plug in both WrapDial and Middleware, and Close it when
// done. It is safe for concurrent use.
type Janitor struct {
	idleTimeout time.Duration // zero: none
	maxLifetime time.Duration // zero: none
	maxRequests int           // zero: none
	kaMargin    time.Duration
	useKAHint   bool
	clock       clock
	epoch       time.Time // origin of conn.lastRead

	mu       sync.Mutex
	conns    map[*conn]struct{}
	nextWake time.Time // when the sweeper will next look; zero: not scheduled
	dialed   int64
	resent   int64
	closed   [numReasons]int64

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New returns a Janitor configured by cfg, which it copies, and starts its
// sweeping goroutine; Close stops it.
func New(cfg Config) *Janitor {
	return newJanitor(cfg, wallClock{})
}

func newJanitor(cfg Config, clk clock) *Janitor {
	margin, useHint := cfg.keepAliveMargin()
	j := &Janitor{
		idleTimeout: cfg.idleTimeout(),
		maxLifetime: max(cfg.MaxLifetime, 0),
		maxRequests: max(cfg.MaxRequestsPerConn, 0),
		kaMargin:    margin,
		useKAHint:   useHint,
		clock:       clk,
		epoch:       clk.Now(),
		conns:       make(map[*conn]struct{}),
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	j.wg.Add(1)
	go j.sweep()
	return j
}

// Close stops the sweeping goroutine and waits for it. Connections are left
// open; close them through the transport (CloseIdleConnections). After
// Close, due connections are still retired when they become idle or are
// picked from the pool, but no longer on a timer. Close is safe to call more
// than once.
func (j *Janitor) Close() error {
	j.stopOnce.Do(func() { close(j.stop) })
	j.wg.Wait()
	return nil
}

// WrapDial returns a dial function that dials with next (a net.Dialer when
// nil) and tracks the connection: the janitor may close it when it is idle
// and due. Use the Janitor's Middleware on the transport that dials with it.
func (j *Janitor) WrapDial(next DialFunc) DialFunc {
	if next == nil {
		next = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		now := j.clock.Now()
		c := &conn{Conn: nc, j: j, born: now, idleSince: now, fresh: true}
		j.mu.Lock()
		j.conns[c] = struct{}{}
		j.dialed++
		// A fresh connection is not the janitor's to close until a request
		// reports, through the middleware, that it got it: net/http re-sends
		// a request whose connection failed only if the connection was
		// reused, a TLS handshake may still be under way, and without the
		// middleware the janitor cannot tell a busy connection from an idle
		// one. (One dialed for a request that went elsewhere waits in the
		// pool, where the transport's own idle timeout applies.)
		j.scheduleLocked(c, now)
		j.mu.Unlock()
		return c, nil
	}
}

// conn is a connection the janitor dialed.
type conn struct {
	net.Conn
	j    *Janitor
	born time.Time

	// Guarded by j.mu.
	active    int       // requests (streams) using it
	requests  int       // requests it was given, ever
	idleSince time.Time // when active last fell to zero
	hint      time.Duration
	hasHint   bool
	h2        bool
	fresh     bool // no request has reported getting it yet
	gone      bool // closed, or being closed by the janitor

	written   atomic.Int64 // bytes written, ever
	armed     atomic.Bool  // idle HTTP/1 connection: check the expiry at the next write
	lastRead  atomic.Int64 // when data last arrived, as nanoseconds since j.epoch; 0: never
	cause     atomic.Int32 // first reason observed for its end
	closeOnce sync.Once
}

// NetConn returns the wrapped connection, so that code looking for the
// *net.TCPConn underneath (TCP keep-alive settings) finds it.
func (c *conn) NetConn() net.Conn { return c.Conn }

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.lastRead.Store(int64(c.j.clock.Now().Sub(c.j.epoch)))
	}
	if err != nil {
		c.observe(err)
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	if c.armed.Load() && c.armed.CompareAndSwap(true, false) {
		if err := c.j.checkWrite(c); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.written.Add(int64(n))
	}
	if err != nil {
		c.observe(err)
	}
	return n, err
}

// observe records why the connection is ending, unless a reason is known.
func (c *conn) observe(err error) {
	switch {
	case errors.Is(err, net.ErrClosed):
		// Our own close (or net/http's) seen from a blocked read.
	case errors.Is(err, io.EOF):
		c.cause.CompareAndSwap(int32(reasonNone), int32(reasonServer))
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return // a deadline set by the user of the conn; not fatal by itself
		}
		c.cause.CompareAndSwap(int32(reasonNone), int32(reasonError))
	}
}

// Close closes the connection and counts it by the reason of its end.
func (c *conn) Close() error {
	// Count first, so that Stats has it once the peer can see the close.
	c.closeOnce.Do(func() {
		c.cause.CompareAndSwap(int32(reasonNone), int32(reasonOther))
		j := c.j
		j.mu.Lock()
		c.gone = true
		delete(j.conns, c)
		j.closed[c.cause.Load()]++
		j.mu.Unlock()
	})
	return c.Conn.Close()
}

// errExpired fails the first write of a request onto a connection that went
// past its idle expiry after the request picked it: nothing is written, so
// net/http closes the connection and re-sends the request on another.
var errExpired = fmt.Errorf("janitor: connection idle past its expiry: %w", net.ErrClosed)

// checkWrite is the last look at an idle HTTP/1 connection before a request
// goes out on it, closer to the wire than GotConn: a request whose goroutine
// stalled between picking the connection and writing to it must not land on
// a connection the server is about to close.
func (j *Janitor) checkWrite(c *conn) error {
	now := j.clock.Now()
	j.mu.Lock()
	expired := false
	if ttl, ok := j.idleTTLLocked(c); ok && !c.gone && !now.Before(c.idleSince.Add(ttl)) {
		j.retireLocked(c, reasonIdle)
		expired = true
	}
	j.mu.Unlock()
	if expired {
		_ = c.Close()
		return errExpired
	}
	return nil
}

// retireLocked marks c as closing for r; the caller closes it after
// unlocking j.mu (conn.Close takes j.mu).
func (j *Janitor) retireLocked(c *conn, r reason) {
	c.gone = true
	c.cause.CompareAndSwap(int32(reasonNone), int32(r))
}

// idleTTLLocked is how long c may stay idle; ok is false when no limit
// applies.
func (j *Janitor) idleTTLLocked(c *conn) (ttl time.Duration, ok bool) {
	ttl, ok = j.idleTimeout, j.idleTimeout > 0
	if c.hasHint {
		h := max(c.hint-j.kaMargin, 0)
		if !ok || h < ttl {
			ttl, ok = h, true
		}
	}
	return ttl, ok
}

// dueLocked reports whether idle connection c must be closed at now, and
// why; otherwise it returns when it will be due (zero: never).
func (j *Janitor) dueLocked(c *conn, now time.Time) (reason, time.Time) {
	if c.fresh {
		return reasonNone, time.Time{}
	}
	if j.maxRequests > 0 && c.requests >= j.maxRequests {
		return reasonRequests, time.Time{}
	}
	var at time.Time
	r := reasonNone
	if j.maxLifetime > 0 {
		at, r = c.born.Add(j.maxLifetime), reasonLifetime
	}
	if ttl, ok := j.idleTTLLocked(c); ok {
		if t := c.idleSince.Add(ttl); r == reasonNone || t.Before(at) {
			at, r = t, reasonIdle
		}
	}
	if r != reasonNone && !now.Before(at) {
		return r, time.Time{}
	}
	return reasonNone, at
}

// scheduleLocked makes sure the sweeper wakes by the time idle connection c
// is due.
func (j *Janitor) scheduleLocked(c *conn, now time.Time) {
	_, at := j.dueLocked(c, now)
	if at.IsZero() {
		return
	}
	if j.nextWake.IsZero() || at.Before(j.nextWake) {
		j.nextWake = at
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
}

// acquire records that a request got c. When a request picks c from the
// pool (reused) while c is past due, c is closed before anything is written,
// which makes net/http send the request on another connection; the caller
// closes the returned conn, if any, after unlocking.
func (j *Janitor) acquireLocked(c *conn, reused bool, now time.Time) (closeNow bool) {
	c.active++
	c.requests++
	c.fresh = false
	if c.gone {
		// Being closed by the janitor, possibly not yet: close it here,
		// before this request writes anything, or the close could land
		// after the request went out.
		return true
	}
	if !reused || c.h2 || c.active != 1 {
		return false
	}
	c.requests-- // the count says what c has served before this request
	r, _ := j.dueLocked(c, now)
	c.requests++
	if r == reasonNone {
		return false
	}
	j.retireLocked(c, r)
	return true
}

// releaseLocked records that a request is done with c. A connection that
// becomes idle while due is closed now (closeNow), else scheduled.
func (j *Janitor) releaseLocked(c *conn, now time.Time) (closeNow bool) {
	c.active--
	if c.active > 0 || c.gone {
		return false
	}
	// The server's keep-alive timer started when it sent the last bytes,
	// which may be well before the caller finished reading the buffered
	// response: count the idle time from when they arrived.
	c.idleSince = now
	if d := c.lastRead.Load(); d > 0 {
		if t := j.epoch.Add(time.Duration(d)); t.Before(now) {
			c.idleSince = t
		}
	}
	if !c.h2 {
		c.armed.Store(true)
	}
	if r, _ := j.dueLocked(c, now); r != reasonNone {
		j.retireLocked(c, r)
		return true
	}
	j.scheduleLocked(c, now)
	return false
}

// sweep closes idle connections as they become due, until Close.
func (j *Janitor) sweep() {
	defer j.wg.Done()
	var due []*conn
	for {
		now := j.clock.Now()
		due = due[:0]
		var next time.Time
		j.mu.Lock()
		for c := range j.conns {
			if c.active > 0 || c.gone {
				continue
			}
			r, at := j.dueLocked(c, now)
			if r != reasonNone {
				j.retireLocked(c, r)
				due = append(due, c)
				continue
			}
			if !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
		j.nextWake = next
		j.mu.Unlock()
		for _, c := range due {
			_ = c.Close()
		}
		clear(due)

		var fire <-chan time.Time
		stopTimer := func() bool { return false }
		if !next.IsZero() {
			fire, stopTimer = j.clock.NewTimer(next.Sub(now))
		}
		select {
		case <-fire:
		case <-j.wake:
			stopTimer()
		case <-j.stop:
			stopTimer()
			return
		}
	}
}

// Stats is a snapshot of the connections a Janitor knows.
type Stats struct {
	Dialed int64 // connections dialed through WrapDial, ever
	Open   int   // connections open now (InUse + Idle)
	InUse  int   // open connections carrying at least one request, or not yet reported by the middleware (being set up)
	Idle   int   // open connections idle in the pool

	ClosedIdle     int64 // closed by the janitor: idle past IdleTimeout or the server's Keep-Alive hint
	ClosedLifetime int64 // retired by the janitor: older than MaxLifetime
	ClosedRequests int64 // retired by the janitor: served MaxRequestsPerConn requests
	ClosedServer   int64 // closed by the server (end of stream, or "Connection: close")
	ClosedError    int64 // ended by a network error (reset, broken pipe)
	ClosedOther    int64 // closed by the transport for its own reasons (CloseIdleConnections, its idle limits, a body closed early)

	// Resent counts requests the middleware sent again because they
	// failed on a pooled connection before any byte of them was written
	// (see Middleware).
	Resent int64
}

// Stats returns a snapshot of the janitor's connections.
func (j *Janitor) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := Stats{
		Dialed:         j.dialed,
		Resent:         j.resent,
		ClosedIdle:     j.closed[reasonIdle],
		ClosedLifetime: j.closed[reasonLifetime],
		ClosedRequests: j.closed[reasonRequests],
		ClosedServer:   j.closed[reasonServer],
		ClosedError:    j.closed[reasonError],
		ClosedOther:    j.closed[reasonOther],
	}
	for c := range j.conns {
		if c.gone {
			continue
		}
		st.Open++
		if c.active > 0 || c.fresh {
			st.InUse++
		} else {
			st.Idle++
		}
	}
	return st
}

// clock is the janitor's time source; tests replace it.
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
