package janitor

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// Middleware returns the decorator that tells the janitor which connections
// are in use: it adds GotConn and PutIdleConn hooks to each request's
// context (composed with hooks already there, which still run), and follows
// the response body to its end or Close. It also reads the server's
// Keep-Alive hint and "Connection: close" from each response.
//
// A request that fails on a connection from the pool before any byte of it
// was written is sent again (up to 3 attempts in all, the body rewound
// through GetBody): the server saw nothing of it. net/http does this itself
// in most such cases, but not when the server's close arrives between the
// pick and the write, where it re-sends only idempotent requests.
//
// Put it directly around the transport whose dialer is WrapDial: requests
// that reach that transport without passing through it are invisible to the
// janitor, which could then close their connections under them.
func (j *Janitor) Middleware() roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			for attempt := 1; ; attempt++ {
				rs := &reqState{j: j}
				trace := &httptrace.ClientTrace{GotConn: rs.gotConn, PutIdleConn: rs.putIdleConn}
				resp, err := next.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
				if err != nil {
					unsent := rs.unsent()
					rs.failed(req.Context(), err)
					rs.done()
					if !unsent || attempt >= maxResends || req.Context().Err() != nil {
						return nil, err
					}
					again, rerr := rewind(req)
					if rerr != nil {
						return nil, err
					}
					j.mu.Lock()
					j.resent++
					j.mu.Unlock()
					req = again
					continue
				}
				rs.response(resp)
				if resp.Body == nil || resp.Body == http.NoBody {
					rs.done()
					return resp, nil
				}
				if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
					resp.Body = &upgradedBody{body: body{rc: rwc, rs: rs}, w: rwc}
					return resp, nil
				}
				resp.Body = &body{rc: resp.Body, rs: rs}
				return resp, nil
			}
		})
	}
}

// maxResends bounds the attempts of one request that keep failing on pooled
// connections before any byte of it was written.
const maxResends = 3

// rewind returns a copy of req with a fresh body, for sending it again; it
// fails when the body cannot be rewound (no GetBody).
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errNoGetBody
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	again := req.Clone(req.Context())
	again.Body = body
	return again, nil
}

var errNoGetBody = errors.New("janitor: request body cannot be rewound")

// reqState follows one request's use of a connection.
type reqState struct {
	j    *Janitor
	mu   sync.Mutex
	conn *conn // the connection it holds; nil when none or done
	last *conn // the connection it got last, kept after done
	fin  bool

	reused  bool      // last came from the pool
	written int64     // last.written when the request got it
	readAt  int64     // last.lastRead when the request got it
	gotAt   time.Time // when the request got last
}

// unsent reports whether the request failed on a pooled HTTP/1 connection
// before any byte of it was written there. net/http re-sends such a request
// itself in most cases, but not all: when the server's FIN arrives between
// the pick and the write, it reports "server closed idle connection" and
// re-sends only idempotent requests. The server saw nothing of it, so the
// middleware sends it again, whatever its method.
func (rs *reqState) unsent() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	c := rs.last
	if c == nil || !rs.reused {
		return false
	}
	rs.j.mu.Lock()
	h2, _ := c.isH2Locked()
	rs.j.mu.Unlock()
	return !h2 && c.written.Load() == rs.written
}

// find returns the janitor's conn under nc (through *tls.Conn and other
// wrappers with a NetConn method), or nil.
func (j *Janitor) find(nc net.Conn) *conn {
	for range 8 {
		switch v := nc.(type) {
		case *conn:
			if v.j == j {
				return v
			}
			return nil
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

func (rs *reqState) gotConn(info httptrace.GotConnInfo) {
	c := rs.j.find(info.Conn)
	j := rs.j
	// Over TLS, ALPN says at once whether the connection is HTTP/2, before
	// any response does.
	alpnH2 := false
	if tc, ok := info.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok && c != nil {
		alpnH2 = tc.ConnectionState().NegotiatedProtocol == "h2"
	}
	now := j.clock.Now()
	type todo struct {
		c *conn
		a action
	}
	var after [2]todo
	rs.mu.Lock()
	j.mu.Lock()
	if prev := rs.conn; prev != nil {
		// net/http is sending the request again on another connection:
		// this one did not serve it (nothing was written on it, or, over
		// HTTP/2, it refused the stream after a GOAWAY), so it does not
		// count towards MaxRequestsPerConn.
		rs.conn = nil
		prev.requests--
		after[0] = todo{prev, j.releaseLocked(prev, now)}
	}
	if c != nil && !rs.fin {
		rs.conn, rs.last = c, c
		rs.reused, rs.written = info.Reused, c.written.Load()
		rs.readAt, rs.gotAt = c.lastRead.Load(), now
		if alpnH2 {
			c.h2 = true
		}
		after[1] = todo{c, j.acquireLocked(c, info.Reused, now)}
	}
	j.mu.Unlock()
	rs.mu.Unlock()
	for _, t := range after {
		t.a.do(t.c)
	}
}

// putIdleConn: net/http has put the connection back in the pool (or failed
// to and will close it), so this request no longer uses it. HTTP/2 never
// calls it; the end of the body marks the end of the stream there.
func (rs *reqState) putIdleConn(error) { rs.done() }

// done records that the request no longer uses its connection; once.
func (rs *reqState) done() {
	rs.mu.Lock()
	rs.fin = true
	c := rs.conn
	rs.conn = nil
	a := keep
	if c != nil {
		j := rs.j
		j.mu.Lock()
		a = j.releaseLocked(c, j.clock.Now())
		j.mu.Unlock()
	}
	rs.mu.Unlock()
	a.do(c)
}

// response learns what the response says about the connection.
func (rs *reqState) response(resp *http.Response) {
	rs.mu.Lock()
	c := rs.last
	rs.mu.Unlock()
	if c == nil {
		return
	}
	if resp.Close {
		c.cause.CompareAndSwap(int32(reasonNone), int32(reasonServer))
	}
	j := rs.j
	hint, hasHint := time.Duration(0), false
	if j.useKAHint {
		if v := resp.Header.Get("Keep-Alive"); v != "" {
			hint, hasHint = ParseKeepAlive(v)
		}
	}
	if resp.ProtoMajor != 2 && !hasHint {
		return // nothing to record: spare the janitor's lock
	}
	j.mu.Lock()
	if resp.ProtoMajor == 2 {
		c.h2 = true
	}
	if hasHint {
		c.hint, c.hasHint = hint, true
		if c.active == 0 && !c.gone {
			j.scheduleLocked(c, j.clock.Now())
		}
	}
	j.mu.Unlock()
}

// body reports the end of the request when the body ends, fails or is
// closed. Reads pass straight through.
type body struct {
	rc io.ReadCloser
	rs *reqState
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.rs.done()
	}
	return n, err
}

func (b *body) Close() error {
	err := b.rc.Close()
	b.rs.done()
	return err
}

type upgradedBody struct {
	body
	w io.Writer
}

func (b *upgradedBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// defaultSilentAfter is how long a connection must have sent nothing, while
// a request on it waited for its response headers, before the janitor
// retires it when that request gives up (see reqState.failed). It is well
// under the shortest first-token timeout in use (1s), whose clock starts
// before the dial: a replay after that timeout must not find the same
// connection; and above the time a user takes to cancel a call by mistake.
const defaultSilentAfter = 250 * time.Millisecond

// failed looks at a request that ended without a response: when it gave up
// (its context ended, or a timeout) after waiting at least
// j.silentAfter for its headers on a connection from which nothing at all
// arrived since the request got it, the connection is retired as silent:
// over HTTP/1 net/http closes it anyway; an HTTP/2 connection would
// otherwise be handed to the request's replay, and to every new request,
// until its ping timeout. An h2c connection whose frames the janitor
// follows is sent a GOAWAY (its other streams run on, new ones go to a new
// connection); any other (TLS, or h2c that never sent a byte) is closed as
// soon as no request holds it. Closes are counted as ClosedError.
//
// A server legitimately slow to send headers cannot trip this while other
// streams on the connection receive anything, or while it sends pings or
// window updates; alone on a quiet connection, the cost of a false
// positive is one new connection.
func (rs *reqState) failed(ctx context.Context, err error) {
	var ne net.Error
	if ctx.Err() == nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return
	}
	rs.mu.Lock()
	c, readAt, gotAt := rs.conn, rs.readAt, rs.gotAt
	rs.mu.Unlock()
	if c == nil || c.lastRead.Load() != readAt {
		return
	}
	j := rs.j
	if j.clock.Now().Sub(gotAt) < j.silentAfter {
		return
	}
	a := keep
	j.mu.Lock()
	if !c.gone && !c.draining && !c.silent {
		if _, h2c := c.isH2Locked(); h2c {
			j.drainLocked(c, reasonError)
			a = goaway
		} else {
			c.silent = true
		}
	}
	j.mu.Unlock()
	a.do(c)
}
