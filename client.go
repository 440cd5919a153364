package llmhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmhttp/llmhttp/dnscache"
	"github.com/llmhttp/llmhttp/janitor"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/health"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
	"github.com/llmhttp/llmhttp/sse"
	"github.com/llmhttp/llmhttp/transport"
)

// ErrClosed is returned for calls made after Close or during Shutdown.
var ErrClosed = errors.New("llmhttp: client closed")

// Client is the assembled stack. Its embedded *http.Client is what callers
// use, and what SDKs take through their custom-client hook
// (option.WithHTTPClient(c.Client) in openai-go and anthropic-sdk-go,
// ClientConfig.HTTPClient in go-openai). Close stops the background work
// (janitor, DNS refresh, health probes) when the client is no longer needed.
type Client struct {
	*http.Client

	short, stream *transport.Transport // stream is nil with SharedPool
	janitor       *janitor.Janitor
	dns           *dnscache.Cache
	checker       *health.Checker
	limiter       *ratelimit.Limiter // nil when the caller gave their own or it is off

	inflight inflight
	closing  atomic.Bool
	once     sync.Once
	closeErr error
	prewarm  sync.WaitGroup
	stopPre  context.CancelFunc
}

// NewClient assembles the recommended stack of DESIGN.md in order:
//
//	observe → retry → health → ratelimit → sse.Watchdog → janitor → transport
//	(dial path: write timeout → janitor → dnscache → net.Dialer)
//
// It fails only when the Config is invalid (a health endpoint that does not
// parse). Call Close when done with the client.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{}
	to := cfg.Timeouts

	if !cfg.DisableDNSCache {
		dc := cfg.DNS
		if dc.LookupTimeout == 0 {
			dc.LookupTimeout = or(to.DNS, DefaultDNSTimeout)
		}
		c.dns = dnscache.New(dc)
	}
	if !cfg.DisableJanitor {
		c.janitor = janitor.New(cfg.Janitor)
	}
	dial := c.dialFunc(cfg.Transport.DialContext, or(to.Write, DefaultWriteTimeout))

	short := cfg.Transport
	c.short = transport.New(c.transportConfig(short, to, dial))
	if !cfg.SharedPool {
		sc := transport.Streaming
		if cfg.StreamTransport != nil {
			sc = *cfg.StreamTransport
		}
		c.stream = transport.New(c.transportConfig(sc, to, c.dialFunc(sc.DialContext, or(to.Write, DefaultWriteTimeout))))
	}

	if len(cfg.Endpoints) > 0 || len(cfg.Health.Endpoints) > 0 {
		hc := cfg.Health
		if len(cfg.Endpoints) > 0 {
			hc.Endpoints = cfg.Endpoints
		}
		if hc.Transport == nil {
			hc.Transport = c.short
		}
		chk, err := health.New(hc)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("llmhttp: %w", err)
		}
		c.checker = chk
	}

	var mws []roundtripper.Middleware
	add := func(at Position) {
		for _, in := range cfg.Middleware {
			if in.At == at && in.Middleware != nil {
				mws = append(mws, in.Middleware)
			}
		}
	}
	mws = append(mws, c.inflight.middleware(&c.closing))
	add(Outermost)
	if !cfg.DisableObserve {
		mws = append(mws, observe.New(cfg.Observe))
	}
	add(AfterObserve)
	mws = append(mws, totalTimeout(or(to.Total, DefaultTotalTimeout), or(to.TotalStream, -1)))
	if !cfg.DisableRetry {
		mws = append(mws, retry.New(cfg.Retry))
	}
	add(AfterRetry)
	if c.checker != nil {
		mws = append(mws, c.checker.Middleware())
	}
	add(AfterHealth)
	switch {
	case cfg.RateLimiter != nil:
		mws = append(mws, cfg.RateLimiter.Middleware())
	case !cfg.DisableRateLimit:
		c.limiter = ratelimit.New(cfg.RateLimit)
		mws = append(mws, c.limiter.Middleware())
	}
	add(AfterRateLimit)
	if !cfg.DisableWatchdog {
		wc := cfg.Watchdog
		if wc.FirstTokenTimeout == 0 {
			wc.FirstTokenTimeout = or(to.FirstToken, DefaultFirstTokenTimeout)
		}
		if wc.TokenIntervalTimeout == 0 {
			wc.TokenIntervalTimeout = or(to.TokenInterval, DefaultTokenIntervalTimeout)
		}
		mws = append(mws, sse.Watchdog(wc))
	}
	add(Innermost)
	if c.janitor != nil {
		mws = append(mws, c.janitor.Middleware())
	}

	var base http.RoundTripper = c.short
	if c.stream != nil {
		base = &router{short: c.short, stream: c.stream}
	}
	c.Client = &http.Client{Transport: roundtripper.Chain(base, mws...)}

	if c.dns != nil && len(cfg.Prewarm) > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		c.stopPre = cancel
		c.prewarm.Add(1)
		go func() {
			defer c.prewarm.Done()
			_ = c.dns.Prewarm(ctx, cfg.Prewarm...) // a failure here is only a cold cache
		}()
	}
	return c, nil
}

// transportConfig applies the layered timeouts and the dial path to tc.
func (c *Client) transportConfig(tc transport.Config, to Timeouts, dial transport.DialFunc) transport.Config {
	set := func(dst *time.Duration, d, def time.Duration) {
		if d != 0 || *dst == 0 {
			*dst = or(d, def)
		}
	}
	set(&tc.DialTimeout, to.Connect, DefaultConnectTimeout)
	set(&tc.TLSHandshakeTimeout, to.TLS, DefaultTLSTimeout)
	set(&tc.ResponseHeaderTimeout, to.Response, DefaultResponseTimeout)
	set(&tc.PoolTimeout, to.PoolAcquire, DefaultPoolAcquireTimeout)
	tc.DialContext = dial
	return tc
}

// dialFunc builds the dial path: write timeout → janitor → dnscache (or the
// caller's dial function, or a net.Dialer).
func (c *Client) dialFunc(next transport.DialFunc, write time.Duration) transport.DialFunc {
	d := next
	if d == nil && c.dns != nil {
		d = c.dns.DialContext
	}
	if d == nil {
		var nd net.Dialer
		d = nd.DialContext
	}
	if c.janitor != nil {
		d = c.janitor.WrapDial(d)
	}
	if write > 0 {
		d = writeTimeoutDial(d, write)
	}
	return d
}

// router sends streaming calls to their own pool.
type router struct{ short, stream http.RoundTripper }

func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	stream, ok := streamFlag(req.Context())
	if !ok {
		stream = isStreaming(req)
	}
	if stream {
		return r.stream.RoundTrip(req)
	}
	return r.short.RoundTrip(req)
}

// Stats is a snapshot of the client's layers; a layer that is off has a
// zero value.
type Stats struct {
	Transport       transport.Stats // the short calls' pool
	StreamTransport transport.Stats // the streams' pool
	Janitor         janitor.Stats
	DNS             dnscache.Stats
	RateLimit       ratelimit.Stats
	Health          []health.EndpointStats
	InFlight        int64 // calls whose response body is still open
}

// Stats returns a snapshot of every layer's counters.
func (c *Client) Stats() Stats {
	var s Stats
	s.Transport = c.short.Stats()
	if c.stream != nil {
		s.StreamTransport = c.stream.Stats()
	}
	if c.janitor != nil {
		s.Janitor = c.janitor.Stats()
	}
	if c.dns != nil {
		s.DNS = c.dns.Stats()
	}
	if c.limiter != nil {
		s.RateLimit = c.limiter.Stats()
	}
	if c.checker != nil {
		s.Health = c.checker.Stats()
	}
	s.InFlight = c.inflight.n.Load()
	return s
}

// Shutdown stops new calls (they fail with ErrClosed), waits for the calls
// in flight to finish — their response bodies closed or read to the end —
// until ctx ends, and then closes the client as Close does. It returns
// ctx's error if calls were still in flight when it ended, as
// http.Server.Shutdown does.
func (c *Client) Shutdown(ctx context.Context) error {
	c.closing.Store(true)
	err := c.inflight.wait(ctx)
	return errors.Join(err, c.Close())
}

// Close stops every background goroutine (janitor, DNS refresh, health
// probes) and closes idle connections. Calls still in flight keep their
// connections until they end; new calls fail with ErrClosed. Close is safe
// to call more than once.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.closing.Store(true)
		if c.stopPre != nil {
			c.stopPre()
		}
		c.prewarm.Wait()
		var errs []error
		if c.checker != nil {
			errs = append(errs, c.checker.Close())
		}
		if c.janitor != nil {
			errs = append(errs, c.janitor.Close())
		}
		if c.dns != nil {
			errs = append(errs, c.dns.Close())
		}
		if c.short != nil {
			c.short.CloseIdleConnections()
		}
		if c.stream != nil {
			c.stream.CloseIdleConnections()
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// CloseIdleConnections closes the idle connections of both pools; it
// shadows http.Client's, which would reach only the outermost layer.
func (c *Client) CloseIdleConnections() {
	c.short.CloseIdleConnections()
	if c.stream != nil {
		c.stream.CloseIdleConnections()
	}
}
