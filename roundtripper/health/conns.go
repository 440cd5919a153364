package health

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// Closing an ejected endpoint's idle connections.
//
// http.Transport can only close all its idle connections at once, and the
// transport under this middleware is usually shared by every endpoint (and,
// for http.DefaultTransport, by the whole process). So the checker keeps its
// own books: an httptrace hook on each call and probe records the connection
// it got (GotConn), and the connection counts as busy until the response body
// is read to the end or closed. When an endpoint is ejected, its connections
// that are not busy are closed (the pool notices and drops them), and those
// busy then are closed when their last call ends, unless the endpoint is back
// by then. Connections opened after the ejection (by probes, or a trial
// call) are fresh and kept. Recovery therefore starts on fresh connections,
// and no other endpoint's pool is touched.
//
// A connection is closed with the books locked, so a request that gets it
// from the pool afterwards is known to have written nothing the server could
// read (its write fails on the closed socket): it fails over like a refused
// dial. TLS connections are closed at the TCP level, without the close_notify
// alert, whose write could block while the lock is held.
//
// The price is a trace and a body wrapper per call to an endpoint. It works
// with any transport built on net/http that honours httptrace; with one that
// does not, nothing is recorded and nothing is closed. A body the caller never
// closes keeps its connection marked busy, so it is left open. A client that
// shares the transport but not this middleware is not in the books: its
// request on a connection closed here fails like one on a connection the
// server closed.

// minPrune is the smallest size at which an endpoint's connection book is
// swept of entries unused for pruneAge (connections the pool has most likely
// closed on its own; the book cannot see that). maxClosed bounds the set of
// connections closed here that a request may still find in the pool.
const (
	minPrune  = 64
	pruneAge  = 10 * time.Minute
	maxClosed = 256
)

type connUse struct {
	busy   int
	last   time.Time
	doomed bool // busy when its endpoint was ejected: close once idle
}

// attempt is one request (a call or a probe) sent to one endpoint.
type attempt struct {
	c          *Checker
	ep         *endpoint
	conn       net.Conn // guarded by c.mu; nil until GotConn
	done       bool     // guarded by c.mu; the connection was released
	tlsFailed  atomic.Bool
	stale      atomic.Bool // the request went on a pooled connection that had been idle
	selfClosed atomic.Bool // ... on one the checker had closed
	firstByte  atomic.Bool // a byte of a response arrived
}

func (c *Checker) newAttempt(ctx context.Context, ep *endpoint) (*attempt, context.Context) {
	a := &attempt{c: c, ep: ep}
	trace := &httptrace.ClientTrace{
		GotConn: a.gotConn,
		GotFirstResponseByte: func() {
			a.firstByte.Store(true)
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				a.tlsFailed.Store(true)
			}
		},
	}
	return a, httptrace.WithClientTrace(ctx, trace)
}

func (a *attempt) gotConn(info httptrace.GotConnInfo) {
	if info.Conn == nil {
		return
	}
	a.stale.Store(info.Reused && info.WasIdle)
	c, ep := a.c, a.ep
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.done {
		return
	}
	if _, ok := ep.closed[info.Conn]; ok {
		a.selfClosed.Store(true)
	}
	if a.conn != nil {
		// The transport moved the request to another connection.
		c.releaseLocked(ep, a.conn, now)
	}
	a.conn = info.Conn
	u := ep.conns[info.Conn]
	if u == nil {
		if len(ep.conns) >= ep.pruneAt {
			pruneLocked(ep, now)
		}
		u = &connUse{}
		ep.conns[info.Conn] = u
	}
	u.busy++
	u.last = now
}

// hasConn reports whether the attempt got a connection.
func (a *attempt) hasConn() bool {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return a.conn != nil
}

// release marks the attempt's connection no longer busy. forget drops it
// from the books (a connection taken over by a protocol switch).
func (a *attempt) release(forget bool) {
	c := a.c
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	switch {
	case a.conn == nil:
	case forget:
		delete(a.ep.conns, a.conn)
	default:
		c.releaseLocked(a.ep, a.conn, now)
	}
}

// releaseLocked decrements conn's use, and closes it if it was busy when its
// endpoint was ejected, is idle now, and the endpoint is still out.
func (c *Checker) releaseLocked(ep *endpoint, conn net.Conn, now time.Time) {
	u := ep.conns[conn]
	if u == nil {
		return
	}
	u.busy--
	u.last = now
	if u.busy > 0 || !u.doomed {
		return
	}
	u.doomed = false
	if ep.state == StateInService && !c.closed.Load() {
		// Back in service already: keep what real calls may be using.
		return
	}
	delete(ep.conns, conn)
	closeConnLocked(ep, conn)
}

// ejectConnsLocked closes ep's idle connections and dooms the busy ones.
func ejectConnsLocked(ep *endpoint) {
	for conn, u := range ep.conns {
		if u.busy <= 0 {
			delete(ep.conns, conn)
			closeConnLocked(ep, conn)
		} else {
			u.doomed = true
		}
	}
}

func closeConnLocked(ep *endpoint, conn net.Conn) {
	if len(ep.closed) >= maxClosed {
		clear(ep.closed)
	}
	ep.closed[conn] = struct{}{}
	if tc, ok := conn.(*tls.Conn); ok {
		_ = tc.NetConn().Close()
		return
	}
	_ = conn.Close()
}

func pruneLocked(ep *endpoint, now time.Time) {
	for conn, u := range ep.conns {
		if u.busy <= 0 && now.Sub(u.last) >= pruneAge {
			delete(ep.conns, conn)
		}
	}
	ep.pruneAt = max(minPrune, 2*len(ep.conns))
}

// trackedBody releases its attempt's connection when the body is read to
// its end or closed.
type trackedBody struct {
	io.ReadCloser
	a *attempt
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.a.release(false)
	}
	return n, err
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.a.release(false)
	return err
}

// track hands resp's body the duty of releasing the attempt's connection.
func (a *attempt) track(resp *http.Response) {
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		// The connection now belongs to the caller (a WebSocket, say):
		// never ours to close, and its body must stay an io.Writer.
		a.release(true)
	case resp.Body == nil || resp.Body == http.NoBody || !a.hasConn():
		a.release(false)
	default:
		resp.Body = &trackedBody{ReadCloser: resp.Body, a: a}
	}
}
