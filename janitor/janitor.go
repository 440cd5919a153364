package janitor

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	epoch       time.Time     // origin of conn.lastRead
	silentAfter time.Duration // see Janitor.silent

	mu       sync.Mutex
	conns    map[*conn]struct{}
	due      dueHeap   // connections with a due time, soonest first
	nextWake time.Time // when the sweeper will next look; zero: not scheduled
	dialed   int64
	resent   int64
	refused  int64
	closed   [numReasons]int64
	shut     bool  // Close was called: connections close as soon as idle
	looked   int64 // connections the sweeper looked at, ever (for tests)

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	shutOnce sync.Once
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
		silentAfter: defaultSilentAfter,
		conns:       make(map[*conn]struct{}),
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	j.wg.Add(1)
	go j.sweep()
	return j
}

// Close stops the sweeping goroutine and waits for it, then closes every
// connection it knows that no request holds, and from then on closes each
// connection as soon as its last request (stream) ends. A connection in use
// is never cut: its requests run to their end. Close does not wait for
// them. A connection dialed but not yet reported by the middleware (being
// set up for a request, or left unused in the pool) is left to the
// transport's CloseIdleConnections, which the caller should also call.
//
// The closes after Close matter for HTTP/2: when a request's context is
// already done, net/http's Body.Close returns before the stream's cleanup
// has made the connection idle, so a CloseIdleConnections right after the
// last Body.Close can miss the connection and leave it open, with its read
// goroutine, until the transport's idle timeout. The janitor counts the
// stream as ended when Body.Close is called and closes the connection
// itself. Close is safe to call more than once.
func (j *Janitor) Close() error {
	j.stopSweep()
	j.shutOnce.Do(func() {
		var idle []*conn
		j.mu.Lock()
		j.shut = true
		for c := range j.conns {
			if c.gone || c.active > 0 || c.fresh {
				continue
			}
			c.gone = true
			idle = append(idle, c)
		}
		j.mu.Unlock()
		for _, c := range idle {
			_ = c.Close()
		}
	})
	return nil
}

// stopSweep stops the sweeping goroutine and waits for it.
func (j *Janitor) stopSweep() {
	j.stopOnce.Do(func() { close(j.stop) })
	j.wg.Wait()
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
		c := &conn{Conn: nc, j: j, born: now, idleSince: now, fresh: true, heapIdx: -1}
		if strings.HasPrefix(network, "tcp") {
			if raw := rawConn(nc); raw != nil {
				c.probe = newSockProbe(raw)
			}
		}
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

// rawConn returns the socket under nc, looking through wrappers with a
// NetConn method, or nil.
func rawConn(nc net.Conn) syscall.RawConn {
	for range 8 {
		if sc, ok := nc.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
	return nil
}

// conn is a connection the janitor dialed.
type conn struct {
	net.Conn
	j     *Janitor
	born  time.Time
	probe *sockProbe // asks the kernel about the TCP socket; nil: cannot

	// Guarded by j.mu.
	active    int       // requests (streams) using it
	requests  int       // requests it was given, ever
	idleSince time.Time // when active last fell to zero
	hint      time.Duration
	hasHint   bool
	h2        bool      // a response on it was HTTP/2
	fresh     bool      // no request has reported getting it yet
	gone      bool      // closed, or being closed by the janitor
	draining  bool      // h2c: retired by a GOAWAY, closing when its last stream ends
	silent    bool      // went silent under a request: closed as soon as idle
	dueAt     time.Time // when the sweeper looks at it next, if in j.due
	heapIdx   int       // index in j.due; -1: not there

	written   atomic.Int64 // bytes written, ever
	armed     atomic.Bool  // idle HTTP/1 connection: check the expiry at the next write
	lastRead  atomic.Int64 // when data last arrived, as nanoseconds since j.epoch; 0: never
	cause     atomic.Int32 // first reason observed for its end
	forgotten atomic.Bool  // counted as closed and out of j.conns

	// h2c: the reader follows the server's frames to hand the client a
	// GOAWAY between two of them (see h2c.go).
	fr          frames // reader only
	inj         []byte // reader only: rest of the GOAWAY being read
	h2c         atomic.Bool
	goaway      atomic.Int32
	interrupted atomic.Bool
}

// isH2Locked reports whether c carries HTTP/2; h2c, that it is plaintext
// HTTP/2, which the janitor retires with a GOAWAY.
func (c *conn) isH2Locked() (h2, h2c bool) {
	h2c = c.h2c.Load()
	return c.h2 || h2c, h2c
}

// NetConn returns the wrapped connection, so that code looking for the
// *net.TCPConn underneath (TCP keep-alive settings) finds it.
func (c *conn) NetConn() net.Conn { return c.Conn }

func (c *conn) Read(p []byte) (int, error) {
	if !c.fr.notH2 {
		return c.readFramed(p)
	}
	n, err := c.Conn.Read(p)
	c.noteRead(n, err)
	return n, err
}

func (c *conn) noteRead(n int, err error) {
	if n > 0 {
		c.lastRead.Store(int64(c.j.clock.Now().Sub(c.j.epoch)))
	}
	if err != nil {
		c.observe(err)
	}
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
	// The sweeper forgets the connections it closes in one batch, under
	// the lock it already holds.
	if c.forgotten.CompareAndSwap(false, true) {
		c.cause.CompareAndSwap(int32(reasonNone), int32(reasonOther))
		j := c.j
		j.mu.Lock()
		j.forgetLocked(c)
		j.mu.Unlock()
	}
	return c.Conn.Close()
}

// forgetLocked counts c as closed and drops it; c.forgotten is already set.
func (j *Janitor) forgetLocked(c *conn) {
	c.gone = true
	delete(j.conns, c)
	if c.heapIdx >= 0 {
		heap.Remove(&j.due, c.heapIdx)
	}
	j.closed[c.cause.Load()]++
}

// errExpired fails the first write of a request onto a pooled connection
// that is past its idle expiry or that the server has closed: nothing is
// written, so net/http closes the connection and sends the request again on
// another (a nothingWrittenError on a reused connection).
var errExpired = fmt.Errorf("janitor: connection idle past its expiry or closed by the server: %w", net.ErrClosed)

// checkWrite is the write guard, the last look at an idle HTTP/1 connection
// before a request goes out on it, as close to the wire as it gets: the
// request's first write. It refuses the write, before any byte of it,
// when the connection is past its idle expiry or the server's FIN has
// arrived. Where the kernel can tell (Linux TCP), both come from the
// kernel: how long ago data last arrived, by its clock, so that a reader
// goroutine descheduled after the response arrived cannot make the janitor
// think the connection younger than the server does; and the TCP state,
// which changes when the FIN arrives, before net/http's reader sees it.
// What is left is the instant between this check and the write itself.
func (j *Janitor) checkWrite(c *conn) error {
	open, sinceData, known := c.probe.state()
	now := j.clock.Now()
	j.mu.Lock()
	refuse := c.gone // being closed by the janitor: write nothing on it
	if !refuse {
		idle := now.Sub(c.idleSince)
		if known {
			idle = max(idle, sinceData)
		}
		r := reasonNone
		if ttl, ok := j.idleTTLLocked(c); ok && idle >= ttl {
			r = reasonIdle
		}
		if known && !open {
			r = reasonServer
		}
		if r != reasonNone {
			j.retireLocked(c, r)
			j.refused++
			refuse = true
		}
	}
	j.mu.Unlock()
	if refuse {
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

// scheduleLocked makes sure the sweeper looks at idle connection c by the
// time it is due.
func (j *Janitor) scheduleLocked(c *conn, now time.Time) {
	_, at := j.dueLocked(c, now)
	j.setDueLocked(c, at)
}

// setDueLocked has the sweeper look at c at at (zero: never).
func (j *Janitor) setDueLocked(c *conn, at time.Time) {
	if at.IsZero() {
		if c.heapIdx >= 0 {
			heap.Remove(&j.due, c.heapIdx)
		}
		return
	}
	c.dueAt = at
	if c.heapIdx >= 0 {
		heap.Fix(&j.due, c.heapIdx)
	} else {
		heap.Push(&j.due, c)
	}
	j.wakeByLocked(at)
}

// dueHeap orders connections by dueAt, soonest first (container/heap).
type dueHeap []*conn

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(a, b int) bool { return h[a].dueAt.Before(h[b].dueAt) }
func (h dueHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].heapIdx, h[b].heapIdx = a, b
}
func (h *dueHeap) Push(x any) {
	c := x.(*conn)
	c.heapIdx = len(*h)
	*h = append(*h, c)
}
func (h *dueHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIdx = -1
	return c
}

// wakeByLocked makes sure the sweeper wakes by at (zero: no need).
func (j *Janitor) wakeByLocked(at time.Time) {
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

// dueBusyLocked reports whether h2c connection c, carrying streams, is due
// for retirement (by its requests or its age), and why; otherwise when it
// will be by age (zero: never).
func (j *Janitor) dueBusyLocked(c *conn, now time.Time) (reason, time.Time) {
	if j.maxRequests > 0 && c.requests >= j.maxRequests {
		return reasonRequests, time.Time{}
	}
	if j.maxLifetime > 0 {
		at := c.born.Add(j.maxLifetime)
		if !now.Before(at) {
			return reasonLifetime, time.Time{}
		}
		return reasonNone, at
	}
	return reasonNone, time.Time{}
}

// drainLocked retires h2c connection c for r: the caller sends it a GOAWAY
// after unlocking j.mu, and the client closes it when its last stream
// ends.
func (j *Janitor) drainLocked(c *conn, r reason) {
	c.draining = true
	c.cause.CompareAndSwap(int32(reasonNone), int32(r))
}

// action is what to do with a connection once j.mu is unlocked.
type action int

const (
	keep    action = iota
	closeIt        // close the socket
	goaway         // h2c: tell the client to take no new streams on it
)

func (a action) do(c *conn) {
	switch a {
	case closeIt:
		_ = c.Close()
	case goaway:
		c.sendGoaway()
	}
}

// acquireLocked records that a request got c. When a request picks an
// HTTP/1 connection from the pool (reused) while it is past due, it is
// closed before anything is written, which makes net/http send the request
// on another connection. An h2c connection that reaches its request limit
// with this request, or is past its lifetime, takes no new streams after
// it (a GOAWAY); the streams it carries run to their end.
func (j *Janitor) acquireLocked(c *conn, reused bool, now time.Time) action {
	c.active++
	c.requests++
	c.fresh = false
	if c.gone {
		// Being closed by the janitor, possibly not yet: close it here,
		// before this request writes anything, or the close could land
		// after the request went out.
		j.refused++
		return closeIt
	}
	h2, h2c := c.isH2Locked()
	if h2c {
		if c.draining {
			return keep
		}
		r, at := j.dueBusyLocked(c, now)
		if r != reasonNone {
			j.drainLocked(c, r)
			return goaway
		}
		j.setDueLocked(c, at)
		return keep
	}
	if !reused || h2 || c.active != 1 {
		return keep
	}
	c.requests-- // the count says what c has served before this request
	r, _ := j.dueLocked(c, now)
	c.requests++
	if r == reasonNone {
		return keep
	}
	j.retireLocked(c, r)
	j.refused++
	return closeIt
}

// releaseLocked records that a request is done with c. A connection that
// becomes idle while due is closed now (h2c: sent a GOAWAY), else
// scheduled.
func (j *Janitor) releaseLocked(c *conn, now time.Time) action {
	c.active--
	if c.active > 0 || c.gone {
		return keep
	}
	if j.shut {
		c.gone = true
		return closeIt
	}
	if c.silent {
		j.retireLocked(c, reasonError)
		return closeIt
	}
	if c.draining {
		// The client closes it when its last stream ends, once it has
		// processed the GOAWAY; before that, the reader's return does.
		if c.goaway.Load() == goawaySeen {
			c.gone = true
			return closeIt
		}
		return keep
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
	h2, h2c := c.isH2Locked()
	if !h2 {
		c.armed.Store(true)
	}
	if r, _ := j.dueLocked(c, now); r != reasonNone {
		if h2c {
			j.drainLocked(c, r)
			return goaway
		}
		j.retireLocked(c, r)
		return closeIt
	}
	j.scheduleLocked(c, now)
	return keep
}

// sweep closes idle connections as they become due, and sends h2c ones,
// idle or busy, a GOAWAY, until Close. It looks only at the connections
// due by now, soonest first, from a heap kept by due time: a wake costs
// O(k log n) for k connections due out of n, under j.mu.
func (j *Janitor) sweep() {
	defer j.wg.Done()
	type todo struct {
		c *conn
		a action
	}
	var due []todo
	for {
		now := j.clock.Now()
		due = due[:0]
		j.mu.Lock()
		for len(j.due) > 0 && !j.due[0].dueAt.After(now) {
			c := heap.Pop(&j.due).(*conn)
			j.looked++
			if c.gone || c.draining {
				continue
			}
			_, h2c := c.isH2Locked()
			if c.active > 0 {
				// A busy HTTP/1 or TLS connection is looked at again
				// when its request ends; a busy h2c one may be due by
				// age.
				if h2c {
					r, at := j.dueBusyLocked(c, now)
					if r != reasonNone {
						j.drainLocked(c, r)
						due = append(due, todo{c, goaway})
					} else {
						j.setDueLocked(c, at)
					}
				}
				continue
			}
			r, at := j.dueLocked(c, now)
			switch {
			case r == reasonNone:
				j.setDueLocked(c, at)
			case h2c:
				j.drainLocked(c, r)
				due = append(due, todo{c, goaway})
			default:
				j.retireLocked(c, r)
				if c.forgotten.CompareAndSwap(false, true) {
					j.forgetLocked(c) // counted here, once for the batch's lock
				}
				due = append(due, todo{c, closeIt})
			}
		}
		var next time.Time
		if len(j.due) > 0 {
			next = j.due[0].dueAt
		}
		j.nextWake = next
		// A wake-up signalled by setDueLocked above is for a time this
		// loop has just seen.
		select {
		case <-j.wake:
		default:
		}
		j.mu.Unlock()
		for _, d := range due {
			d.a.do(d.c)
		}
		clear(due)

		var fire <-chan time.Time
		stopTimer := func() bool { return false }
		if !next.IsZero() {
			fire, stopTimer = j.clock.NewTimer(next.Sub(j.clock.Now())) // time moved while it swept
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

	// Draining counts open h2c connections retired with a GOAWAY: they
	// take no new streams and close when their last stream ends.
	Draining int

	ClosedIdle     int64 // closed by the janitor: idle past IdleTimeout or the server's Keep-Alive hint
	ClosedLifetime int64 // retired by the janitor: older than MaxLifetime
	ClosedRequests int64 // retired by the janitor: served MaxRequestsPerConn requests
	ClosedServer   int64 // closed by the server (end of stream, or "Connection: close")
	ClosedError    int64 // ended by a network error (reset, broken pipe), or retired as silent (see the package doc)
	ClosedOther    int64 // closed by the transport for its own reasons (CloseIdleConnections, its idle limits, a body closed early)

	// Resent counts requests the middleware sent again because they
	// failed on a pooled connection before any byte of them was written
	// (see Middleware).
	Resent int64

	// Refused counts requests the janitor stopped before any byte of them
	// was written, on a pooled connection past its expiry: when the request
	// got the connection or at its first write. net/http sends those again
	// on a new connection by itself.
	Refused int64
}

// Stats returns a snapshot of the janitor's connections.
func (j *Janitor) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := Stats{
		Dialed:         j.dialed,
		Resent:         j.resent,
		Refused:        j.refused,
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
		if c.draining {
			st.Draining++
		}
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
