package transport

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"
)

// DialFunc dials a connection; it has the signature of
// net.Dialer.DialContext, dnscache.Cache.DialContext and the function
// janitor.WrapDial returns.
type DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// Config configures a [Transport]. The zero value is useful: every field says
// what zero means, and the zero Config is the same as [MediumConcurrency].
// Where zero means a default, a negative value turns the feature off.
type Config struct {
	// MaxConns caps the requests in flight over all hosts together; requests
	// past it wait for a slot (see PoolTimeout). Zero means 100; negative
	// means no limit.
	MaxConns int

	// MaxConnsPerHost caps the requests in flight to one host (host:port).
	// Over HTTP/1.1, where a connection carries one request at a time, this
	// is the number of connections to the host; the underlying
	// http.Transport is given the same limit, so no more connections are
	// ever opened. Over HTTP/2, where one connection carries many streams,
	// it counts requests (streams) in flight, not connections. Zero means
	// 30; negative means no limit (and no pool timeout).
	MaxConnsPerHost int

	// PoolTimeout bounds how long a request waits for a slot when MaxConns or
	// MaxConnsPerHost is reached; it then fails with an error matching
	// ErrPoolTimeout. Waiters are served in arrival order. Zero means 10s;
	// negative means wait until the request's context ends (net/http's
	// behaviour).
	PoolTimeout time.Duration

	// MaxIdleConns caps the idle connections kept over all hosts. Zero means
	// MaxConns (100 if that is unlimited); negative means no limit.
	MaxIdleConns int

	// MaxIdleConnsPerHost caps the idle connections kept per host. Zero means
	// MaxConnsPerHost (so a burst reuses every connection it opened, unlike
	// net/http's default of 2), or 100 if that is unlimited; negative keeps
	// no idle connections (every request opens a new one).
	MaxIdleConnsPerHost int

	// IdleConnTimeout is the keep-alive expiry: an idle connection is closed
	// after this long. Set it below the server's keep-alive timeout so that
	// the client closes first (the janitor package does this per connection,
	// from the server's Keep-Alive header). Zero means 90s; negative means
	// idle connections are never closed for being idle.
	IdleConnTimeout time.Duration

	// DialTimeout bounds TCP connection establishment (including the
	// DialContext hook). Zero means 10s; negative means no limit besides the
	// request's context.
	DialTimeout time.Duration

	// TLSHandshakeTimeout bounds the TLS handshake. Zero means 10s; negative
	// means no limit.
	TLSHandshakeTimeout time.Duration

	// ResponseHeaderTimeout bounds the wait for the response headers after
	// the request is written. A non-streamed completion sends its headers
	// only when the whole answer is ready, so this is its read timeout; a
	// stream sends them at once (its token gaps are sse.Watchdog's job).
	// Zero means 180s; negative means no limit.
	ResponseHeaderTimeout time.Duration

	// TCPKeepAlive sets the TCP keep-alive probes of every connection
	// dialed, so that a middlebox that silently drops quiet connections is
	// noticed. Probes are on unless turned off: zero fields mean Idle 60s,
	// Interval 10s, Count 3 (the reference's settings), and Enable is
	// implied. To turn probes off, set Idle to a negative value and leave
	// Enable false.
	TCPKeepAlive net.KeepAliveConfig

	// DisableHTTP2 turns off HTTP/2 on TLS connections; by default it is
	// negotiated through ALPN, as net/http does for its default transport.
	DisableHTTP2 bool

	// H2C makes http:// requests use HTTP/2 without TLS, with prior
	// knowledge (no upgrade), as local inference servers that support it
	// accept. HTTP/1.1 is then not used for http:// URLs; https:// URLs
	// still negotiate HTTP/2 (HTTP/1.1 is not offered either).
	H2C bool

	// HTTP2SendPingTimeout is how long an HTTP/2 connection may go without
	// receiving a frame before the transport sends a ping to check it. Zero
	// means 30s; negative turns the health-check pings off.
	HTTP2SendPingTimeout time.Duration

	// HTTP2PingTimeout is how long the transport waits for the answer to a
	// health-check ping before it closes the connection and fails the
	// requests on it. Zero means 15s. Shorter values raise false "connection
	// lost" errors on busy links; use them only in tests.
	HTTP2PingTimeout time.Duration

	// TLSClientConfig is the TLS configuration; it is cloned by New. Nil
	// means the zero tls.Config (system roots).
	TLSClientConfig *tls.Config

	// Proxy returns the proxy for a request, as http.Transport.Proxy does.
	// Nil means http.ProxyFromEnvironment (HTTPS_PROXY, HTTP_PROXY,
	// NO_PROXY), which custom transports often drop by accident. To use no
	// proxy at all, return nil, nil.
	Proxy func(*http.Request) (*url.URL, error)

	// DialContext dials TCP connections: this is where a caching resolver
	// (dnscache.Cache.DialContext) and the janitor (janitor.WrapDial) plug
	// in. DialTimeout and TCPKeepAlive still apply to what it returns (the
	// keep-alive settings reach a *net.TCPConn through wrappers that have a
	// NetConn() net.Conn method). Nil means a net.Dialer.
	DialContext DialFunc
}

// The presets follow the reference's table of recommended settings by
// workload. Retry counts in that table (2, 3, 3, 2, 1) belong to the retry
// decorator, and the streaming token gap (10 s) to sse.Watchdog; the idle
// timeouts below are the client-side keep-alive expiries. New copies the
// Config it is given, so a preset may be copied and edited freely.
var (
	// LowConcurrency suits fewer than 10 calls per second: 20 connections,
	// 10 per host, 60s keep-alive expiry, 120s response header timeout.
	LowConcurrency = Config{
		MaxConns:              20,
		MaxConnsPerHost:       10,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
	}

	// MediumConcurrency suits 10–50 calls per second: 100 connections, 30
	// per host, 90s keep-alive expiry, 180s response header timeout. It is
	// what the zero Config gives.
	MediumConcurrency = Config{
		MaxConns:              100,
		MaxConnsPerHost:       30,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 180 * time.Second,
	}

	// HighConcurrency suits 50–200 calls per second: 200 connections, 50
	// per host, 90s keep-alive expiry, 180s response header timeout.
	HighConcurrency = Config{
		MaxConns:              200,
		MaxConnsPerHost:       50,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 180 * time.Second,
	}

	// Streaming suits mostly-streamed (SSE) calls: 150 connections, 40 per
	// host, 120s keep-alive expiry. A stream sends its headers before the
	// first token, so the response header timeout is 30s; the gaps between
	// tokens (10s in the reference) are bounded by sse.Watchdog.
	Streaming = Config{
		MaxConns:              150,
		MaxConnsPerHost:       40,
		IdleConnTimeout:       120 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}

	// LocalInference suits a local vLLM / Ollama / llama.cpp server: 50
	// connections, all to the one host, 300s keep-alive expiry, 300s
	// response header timeout (a local GPU queue can be slow to start).
	// Set H2C on a copy if the server speaks HTTP/2 without TLS.
	LocalInference = Config{
		MaxConns:              50,
		MaxConnsPerHost:       50,
		IdleConnTimeout:       300 * time.Second,
		ResponseHeaderTimeout: 300 * time.Second,
	}
)

// limit maps a field where zero means def and negative means none to a
// limit where zero means none.
func limit(v, def int) int {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

// timeout maps a field where zero means def and negative means none to a
// duration where zero means none.
func timeout(v, def time.Duration) time.Duration {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

func (c *Config) maxConns() int        { return limit(c.MaxConns, 100) }
func (c *Config) maxConnsPerHost() int { return limit(c.MaxConnsPerHost, 30) }

func (c *Config) maxIdleConns() int {
	if c.MaxIdleConns < 0 {
		return 0 // net/http: zero means no limit
	}
	if c.MaxIdleConns > 0 {
		return c.MaxIdleConns
	}
	if n := c.maxConns(); n > 0 {
		return n
	}
	return 100
}

func (c *Config) maxIdleConnsPerHost() int {
	if c.MaxIdleConnsPerHost < 0 {
		return -1 // net/http: negative keeps none
	}
	if c.MaxIdleConnsPerHost > 0 {
		return c.MaxIdleConnsPerHost
	}
	if n := c.maxConnsPerHost(); n > 0 {
		return n
	}
	return 100
}

func (c *Config) poolTimeout() time.Duration { return timeout(c.PoolTimeout, 10*time.Second) }
func (c *Config) idleConnTimeout() time.Duration {
	return timeout(c.IdleConnTimeout, 90*time.Second)
}
func (c *Config) dialTimeout() time.Duration { return timeout(c.DialTimeout, 10*time.Second) }
func (c *Config) tlsHandshakeTimeout() time.Duration {
	return timeout(c.TLSHandshakeTimeout, 10*time.Second)
}
func (c *Config) responseHeaderTimeout() time.Duration {
	return timeout(c.ResponseHeaderTimeout, 180*time.Second)
}
func (c *Config) sendPingTimeout() time.Duration {
	return timeout(c.HTTP2SendPingTimeout, 30*time.Second)
}

func (c *Config) pingTimeout() time.Duration {
	if c.HTTP2PingTimeout > 0 {
		return c.HTTP2PingTimeout
	}
	return 15 * time.Second
}

func (c *Config) tcpKeepAlive() net.KeepAliveConfig {
	ka := c.TCPKeepAlive
	if !ka.Enable && ka.Idle < 0 {
		return net.KeepAliveConfig{Enable: false, Idle: -1}
	}
	ka.Enable = true
	if ka.Idle == 0 {
		ka.Idle = 60 * time.Second
	}
	if ka.Interval == 0 {
		ka.Interval = 10 * time.Second
	}
	if ka.Count == 0 {
		ka.Count = 3
	}
	return ka
}

func (c *Config) proxy() func(*http.Request) (*url.URL, error) {
	if c.Proxy != nil {
		return c.Proxy
	}
	return http.ProxyFromEnvironment
}
