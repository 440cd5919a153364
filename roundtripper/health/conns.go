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
// by then. Recovery therefore starts on fresh connections, and no other
// endpoint's pool is touched.
//
// The price is a trace and a body wrapper per call to an endpoint. It works
// with any transport built on net/http that honours httptrace; with one that
// does not, nothing is recorded and nothing is closed. A body the caller never
// closes keeps its connection marked busy, so it is left open.

// minPrune is the smallest size at which an endpoint's connection book is
// swept of entries unused for pruneAge (connections the pool has most likely
// closed on its own; the book cannot see that).
const (
	minPrune = 64
	pruneAge = 10 * time.Minute
)

type connUse struct {
	busy int
	last time.Time
}

// attempt is one request (a call or a probe) sent to one endpoint.
type attempt struct {
	c         *Checker
	ep        *endpoint
	conn      net.Conn // guarded by c.mu; nil until GotConn
	done      bool     // guarded by c.mu; the connection was released
	tlsFailed atomic.Bool
	stale     atomic.Bool // the request went on a pooled connection that had been idle
	firstByte atomic.Bool // a byte of a response arrived
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
	c := a.c
	now := c.clk.Now()
	c.mu.Lock()
	if a.done {
		c.mu.Unlock()
		return
	}
	var stale net.Conn
	if a.conn != nil {
		// The transport moved the request to another connection.
		stale = c.releaseLocked(a.ep, a.conn, now)
	}
	a.conn = info.Conn
	ep := a.ep
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
	c.mu.Unlock()
	if stale != nil {
		_ = stale.Close()
	}
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
	if a.done {
		c.mu.Unlock()
		return
	}
	a.done = true
	var stale net.Conn
	if a.conn != nil {
		if forget {
			delete(a.ep.conns, a.conn)
		} else {
			stale = c.releaseLocked(a.ep, a.conn, now)
		}
	}
	c.mu.Unlock()
	if stale != nil {
		_ = stale.Close()
	}
}

// releaseLocked decrements conn's use and returns it when it should be
// closed now: idle, on an endpoint out of service.
func (c *Checker) releaseLocked(ep *endpoint, conn net.Conn, now time.Time) net.Conn {
	u := ep.conns[conn]
	if u == nil {
		return nil
	}
	u.busy--
	u.last = now
	if u.busy <= 0 && ep.state != StateInService {
		delete(ep.conns, conn)
		return conn
	}
	return nil
}

// idleConnsLocked removes ep's idle connections from the books and returns
// them to be closed.
func idleConnsLocked(ep *endpoint) []net.Conn {
	var idle []net.Conn
	for conn, u := range ep.conns {
		if u.busy <= 0 {
			idle = append(idle, conn)
			delete(ep.conns, conn)
		}
	}
	return idle
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
