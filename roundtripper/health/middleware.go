package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// Middleware returns the decorator that routes calls. A request addressed to
// any endpoint (scheme and host:port) goes to the most preferred endpoint in
// service, its path re-based from the endpoint it named onto the chosen one;
// a request to any other host passes through untouched.
//
// When a request fails before anything reached the server (a refused
// connection, a DNS failure, a TLS handshake failure, a dial timeout, a
// pooled keep-alive connection the server had already closed, or an error
// reporting roundtripper.NotSent), the endpoint's failure is counted and the
// request moves at once to the next endpoint in service, its body re-sent
// through GetBody (without GetBody, a request with a body is not moved). A
// request that may have reached the server is never re-sent here: that is
// retry's decision. A pooled connection the server had closed is first
// retried once on the same endpoint over a fresh connection, uncounted, as
// it is most often a keep-alive race with a live server. When no endpoint
// can take the call it fails at once,
// without a dial, with an *UnavailableError, which matches
// ErrNoHealthyEndpoint.
//
// Every call to an endpoint counts towards its health: an error is a
// failure (a stream that stalled before its first token, reported through
// roundtripper.Replayable, included), and so is a 5xx or 529; any other
// answer is a success; both are counted when the response headers arrive.
// Not counted: the caller cancelling, and a layer below refusing to send (an
// error saying roundtripper.NotSent with no sign of the network in it, such
// as a rate limiter's or a full pool's), which fails over all the same.
//
// A nil next means http.DefaultTransport.
func (c *Checker) Middleware() roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			next = http.DefaultTransport
		}
		return &roundTripper{c: c, next: next}
	}
}

type roundTripper struct {
	c    *Checker
	next http.RoundTripper
}

var _ http.RoundTripper = (*roundTripper)(nil)

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	src := rt.c.match(req.URL)
	if src == nil {
		return rt.next.RoundTrip(req)
	}
	return rt.c.roundTrip(rt.next, req, src)
}

// match returns the endpoint u is addressed to, or nil.
func (c *Checker) match(u *url.URL) *endpoint {
	if u == nil {
		return nil
	}
	var best *endpoint
	for _, ep := range c.eps {
		if !ep.matchesHost(u) {
			continue
		}
		if best == nil {
			best = ep
			continue
		}
		if hasPathPrefix(u.Path, ep.basePath) && (!hasPathPrefix(u.Path, best.basePath) || len(ep.basePath) > len(best.basePath)) {
			best = ep
		}
	}
	return best
}

func (c *Checker) roundTrip(next http.RoundTripper, req *http.Request, src *endpoint) (*http.Response, error) {
	ctx := req.Context()
	var (
		tried        []string // reason per endpoint index, once tried by this call
		lastErr      error
		staleRetried bool       // a connection closed under the request was met, and retried once
		body         = req.Body // the body of the next attempt
	)
	for attemptN := 0; ; attemptN++ {
		if attemptN > 0 {
			if req.GetBody == nil && req.Body != nil && req.Body != http.NoBody {
				return nil, lastErr // cannot re-send; the body went with the first attempt
			}
			if req.GetBody != nil {
				var err error
				if body, err = req.GetBody(); err != nil {
					return nil, fmt.Errorf("health: rewinding the body for failover: %w", err)
				}
			}
		}
		if err := ctx.Err(); err != nil {
			closeBody(body)
			return nil, err
		}
		ep, trial, err := c.pick(tried, lastErr)
		if err != nil {
			closeBody(body)
			return nil, err
		}

		a, actx := c.newAttempt(ctx, ep)
		out := req.WithContext(actx)
		out.Body = body
		if ep != src {
			out.URL = rebase(req.URL, src, ep)
			out.Host = ""
		}
		resp, err := next.RoundTrip(out)
		if err == nil {
			o, reason := success, ""
			if failedStatus(resp.StatusCode) {
				o, reason = failure, fmt.Sprintf("status %d", resp.StatusCode)
			}
			c.record(ep, trial, o, reason)
			a.track(resp)
			return resp, nil
		}
		a.release(false)
		if ctx.Err() == context.Canceled {
			c.record(ep, trial, neutral, "")
			return nil, err
		}
		if ctx.Err() == nil && !staleRetried && a.closedUnder(err) {
			// A pooled connection was closed under the request: by the
			// server (a keep-alive race with a live server, or a server
			// gone) or by this checker. Try again once, on the same
			// endpoint if it is still in service, over a fresh connection
			// (refused at once if the server is gone), before counting
			// anything against it.
			staleRetried = true
			c.record(ep, trial, neutral, "")
			lastErr = err
			continue
		}
		reason := errReason(err)
		if ctx.Err() == context.DeadlineExceeded {
			reason = "timeout: " + reason
		}
		o := failure
		if localRefusal(err, a) { // even on the caller's deadline: it ran out in a layer's queue
			o = neutral
		}
		c.record(ep, trial, o, reason)
		if ctx.Err() != nil || !notSent(err, a) {
			return nil, err
		}
		if tried == nil {
			tried = make([]string, len(c.eps))
		}
		tried[ep.index] = reason
		lastErr = err
	}
}

func closeBody(b interface{ Close() error }) {
	if b != nil && b != http.NoBody {
		_ = b.Close()
	}
}

// notSent reports whether err proves that the attempt reached no server,
// so that sending it elsewhere cannot act or bill twice.
func notSent(err error, a *attempt) bool {
	if roundtripper.NotSent(err) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	if a.selfClosed.Load() && !a.firstByte.Load() {
		return true // on a connection closed here before it was handed out
	}
	if tlsHandshakeError(err) || staleConn(err, a) {
		return true
	}
	// A handshake that failed before the request got a connection, in
	// ways the types above do not cover (a handshake timeout, a reset
	// during the handshake): httptrace saw it.
	return a.tlsFailed.Load() && !a.hasConn()
}

// staleConn reports whether err is the server closing a pooled keep-alive
// connection that our request had just been written to: the connection had
// sat idle, and it ended (EOF, reset, broken pipe) before a byte of an
// answer. This is what a server that was shut down or restarted leaves
// behind in every client's pool, and the first call after it meets it. The
// server closed a connection it held idle, with no request of ours read, so
// the request did not act there; net/http re-sends such requests by itself,
// but only idempotent ones, as it cannot tell this apart from a server that
// read a request and died before answering. That remains the risk here: a
// server crashing in the instant between reading a request and answering it.
func staleConn(err error, a *attempt) bool {
	if !a.stale.Load() || a.firstByte.Load() {
		return false
	}
	// io.ErrUnexpectedEOF is how HTTP/2 reports the connection lost under
	// a stream; over HTTP/1 it would need a byte of a response first.
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		// net/http's unexported errServerClosedIdle: its text is all there is to match.
		err.Error() == "http: server closed idle connection"
}

// localRefusal reports whether err is a layer below refusing to send the
// request (a rate limiter that would wait too long, a full connection pool):
// it says NotSent, and nothing shows it touched the network. Such a call
// fails over like any unsent one, but says nothing about the endpoint's
// health, so it is not counted against it.
func localRefusal(err error, a *attempt) bool {
	if !roundtripper.NotSent(err) || roundtripper.Replayable(err) || a.hasConn() || a.tlsFailed.Load() {
		return false
	}
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
		errno  syscall.Errno
		netErr net.Error
	)
	network := errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &errno) || tlsHandshakeError(err) ||
		// context.DeadlineExceeded is a net.Error too, but in a layer's
		// own refusal it is that layer's timer (a pool wait), not the
		// network's.
		errors.As(err, &netErr) && !errors.Is(err, context.DeadlineExceeded)
	return !network
}

// closedUnder reports whether the attempt failed because the pooled
// connection it was given had been closed: by the server (staleConn) or by
// this checker.
func (a *attempt) closedUnder(err error) bool {
	return staleConn(err, a) || a.selfClosed.Load() && !a.firstByte.Load()
}

func tlsHandshakeError(err error) bool {
	var (
		rec     tls.RecordHeaderError
		alert   tls.AlertError
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	return errors.As(err, &rec) || errors.As(err, &alert) || errors.As(err, &verify) ||
		errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}
