package transport

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// Transport is an http.RoundTripper over a tuned *http.Transport, with a
// pool admission gate in front (see [Config.MaxConnsPerHost] and
// [Config.PoolTimeout]). It is safe for concurrent use.
//
// A request holds its slot until its response body is read to the end or
// closed (or until RoundTrip fails), as the connection under it is busy that
// long: close every response body, as net/http asks anyway.
//
// Like http.Transport, it re-sends a request by itself only when the
// connection it picked from the idle pool turned out to be dead before
// anything was written (and the body can be rewound through GetBody).
type Transport struct {
	base *http.Transport
	gate *gate
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport configured by cfg, which it copies.
func New(cfg Config) *Transport {
	t := &Transport{}
	t.gate = newGate(cfg.maxConnsPerHost(), cfg.maxConns(), cfg.poolTimeout(), wallClock{})

	var protocols http.Protocols
	protocols.SetHTTP1(!cfg.H2C)
	protocols.SetHTTP2(!cfg.DisableHTTP2)
	protocols.SetUnencryptedHTTP2(cfg.H2C)

	h2 := &http.HTTP2Config{PingTimeout: cfg.pingTimeout()}
	h2.SendPingTimeout = cfg.sendPingTimeout()

	var tlsConfig = cfg.TLSClientConfig.Clone()
	t.base = &http.Transport{
		Proxy:                 cfg.proxy(),
		DialContext:           t.dialer(cfg),
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   cfg.tlsHandshakeTimeout(),
		MaxIdleConns:          cfg.maxIdleConns(),
		MaxIdleConnsPerHost:   cfg.maxIdleConnsPerHost(),
		MaxConnsPerHost:       cfg.maxConnsPerHost(),
		IdleConnTimeout:       cfg.idleConnTimeout(),
		ResponseHeaderTimeout: cfg.responseHeaderTimeout(),
		// Same as http.DefaultTransport: a client sending Expect:
		// 100-continue does not wait longer than this for the server.
		ExpectContinueTimeout: defaultExpectContinueTimeout,
		ForceAttemptHTTP2:     !cfg.DisableHTTP2,
		HTTP2:                 h2,
		Protocols:             &protocols,
	}
	return t
}

const defaultExpectContinueTimeout = time.Second // as http.DefaultTransport

// dialer returns the DialContext of the underlying transport: cfg's hook or a
// net.Dialer, bounded by DialTimeout, with TCP keep-alive probes applied and
// errors typed as DialError.
func (t *Transport) dialer(cfg Config) DialFunc {
	ka := cfg.tcpKeepAlive()
	timeout := cfg.dialTimeout()
	next := cfg.DialContext
	if next == nil {
		d := &net.Dialer{Timeout: timeout, KeepAliveConfig: ka}
		if !ka.Enable {
			d.KeepAlive = -1
		}
		next = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, &DialError{Addr: addr, Err: err}
		}
		if tc := tcpConn(c); tc != nil {
			// Errors here leave the system's keep-alive settings in
			// place, which is no reason to fail the dial.
			_ = tc.SetKeepAliveConfig(ka)
		}
		t.gate.opened(addr)
		return c, nil
	}
}

// tcpConn finds the *net.TCPConn under c through wrappers that expose
// NetConn, as *tls.Conn and the janitor's connections do.
func tcpConn(c net.Conn) *net.TCPConn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// RoundTrip implements http.RoundTripper. It waits for a slot for the
// request's host (failing with a *PoolTimeoutError after the pool timeout),
// then sends the request through the underlying http.Transport. The slot is
// released when the response body reaches its end or is closed. The time
// spent waiting is reported to the PoolWait hook of a roundtripper.Trace on
// the request's context, if any (zero when a slot was free at once).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	s, waited, err := t.gate.acquire(req.Context(), hostKey(req.URL))
	if tr := roundtripper.ContextTrace(req.Context()); tr != nil && tr.PoolWait != nil {
		tr.PoolWait(waited)
	}
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		s.release()
		return nil, err
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		s.release()
		return resp, nil
	}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection (WebSocket) is the caller's; it holds its
		// slot until closed, and keeps its Write method.
		resp.Body = &upgradedBody{body: body{rc: rwc, s: s}, w: rwc}
		return resp, nil
	}
	resp.Body = &body{rc: resp.Body, s: s}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the underlying
// transport; connections in use are not interrupted.
func (t *Transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// hostKey is the host:port a request is counted against, with the scheme's
// default port filled in and the host in lower case.
func hostKey(u *url.URL) string {
	port := u.Port()
	if port != "" && !hasUpper(u.Host) {
		return u.Host // already host:port, as JoinHostPort would write it
	}
	host := strings.ToLower(u.Hostname())
	if port == "" {
		switch u.Scheme {
		case "https", "wss":
			port = "443"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(host, port)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// body releases the request's slot when the body reaches its end, fails, or
// is closed. It passes reads straight through: nothing is buffered.
type body struct {
	rc io.ReadCloser
	s  *slot
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.s.release()
	}
	return n, err
}

func (b *body) Close() error {
	err := b.rc.Close()
	b.s.release()
	return err
}

type upgradedBody struct {
	body
	w io.Writer
}

func (b *upgradedBody) Write(p []byte) (int, error) { return b.w.Write(p) }
