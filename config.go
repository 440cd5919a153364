package llmhttp

import (
	"net/http"
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

// Config configures the client NewClient assembles. The zero Config is the
// recommended stack for a remote LLM API: every layer on, the reference's
// timeouts, transport.MediumConcurrency for short calls and
// transport.Streaming for streams. Each layer can be switched off with its
// Disable field, tuned through its own package's Config, or replaced: switch
// it off and insert your own Middleware at its Position.
type Config struct {
	// Transport sets the pool of short (non-streaming) calls. The zero value
	// is transport.MediumConcurrency; assign another preset
	// (transport.HighConcurrency, transport.LocalInference, ...) to change
	// workload. Its timeouts are overridden by Timeouts where those are set,
	// and its DialContext by the DNS cache and the janitor unless they are
	// disabled.
	Transport transport.Config

	// StreamTransport sets the separate pool of streaming calls (the
	// reference's rule: SSE uses its own connections and timeouts), so that
	// minutes-long streams never take every connection from short calls. Nil
	// means transport.Streaming.
	StreamTransport *transport.Config

	// SharedPool sends streaming calls through the short calls' pool,
	// turning the separate stream pool off.
	SharedPool bool

	// Timeouts are the layered timeouts, in one place. See Timeouts.
	Timeouts Timeouts

	// Retry configures the retry layer; the zero value is retry's defaults
	// (3 retries, jittered backoff, server hints, a retry budget).
	// Set Retry.MaxRetries to a negative value, or DisableRetry, to send
	// every call once. SDKs retry too: set theirs to 0 (see the package doc).
	Retry        retry.Config
	DisableRetry bool

	// Endpoints, when it lists two or more base URLs of interchangeable
	// replicas (most preferred first), puts the health layer in the chain:
	// active probes, passive ejection and failover among them. Health tunes
	// it; its Endpoints field is replaced by this one when this is set.
	Endpoints []string
	Health    health.Config

	// RateLimit configures the client-side rate limiter. The zero value
	// sets no static limit but still learns from the servers' rate-limit
	// headers and holds a host back after a 429, for every caller at once.
	RateLimit        ratelimit.Config
	DisableRateLimit bool

	// RateLimiter, if not nil, replaces the limiter built from RateLimit;
	// a *redislimit.Limiter shares the limits of a fleet through Redis. The
	// client does not close it.
	RateLimiter interface {
		Middleware() roundtripper.Middleware
	}

	// Watchdog tunes the stream watchdog beyond its two timeouts (which come
	// from Timeouts); DisableWatchdog takes it out of the chain.
	Watchdog        sse.WatchdogConfig
	DisableWatchdog bool

	// DNS configures the caching resolver in the dial path; Prewarm hosts
	// are resolved at NewClient in the background.
	DNS             dnscache.Config
	Prewarm         []string
	DisableDNSCache bool

	// Janitor configures connection retirement; zero values are the
	// janitor's defaults. DisableJanitor takes it out of the dial path.
	Janitor        janitor.Config
	DisableJanitor bool

	// Observe says where per-call reports go; the zero value reports
	// nowhere (and costs little). DisableObserve takes the layer out.
	Observe        observe.Config
	DisableObserve bool

	// Middleware inserts the caller's own decorators (otelhttp, logging,
	// auth) at named positions of the chain.
	Middleware []Insert
}

// Insert puts a Middleware at a Position of the chain. Several at one
// position run in the order given, the first outermost.
type Insert struct {
	At         Position
	Middleware roundtripper.Middleware
}

// Position names a place in the chain, from the outside in:
//
//	caller → Outermost → observe → AfterObserve → retry → AfterRetry →
//	health → AfterHealth → ratelimit → AfterRateLimit → sse.Watchdog →
//	Innermost → janitor → transport
type Position int

// The positions of the chain, outermost first.
const (
	Outermost Position = iota
	AfterObserve
	AfterRetry
	AfterHealth
	AfterRateLimit
	Innermost
)

// Timeouts are the reference's layered timeouts (its section 6), each
// enforced by the layer named. Zero means the default given; a negative
// value turns that timeout off.
type Timeouts struct {
	DNS           time.Duration // one upstream DNS query (dnscache); 3s
	Connect       time.Duration // TCP connect (transport); 10s
	TLS           time.Duration // TLS handshake (transport); 10s
	Write         time.Duration // a request write that makes no progress (dial path); 30s
	FirstToken    time.Duration // request start to first content token of a stream (sse.Watchdog); 15s
	TokenInterval time.Duration // between content tokens of a stream (sse.Watchdog); 10s
	Response      time.Duration // response headers of a call, i.e. a whole non-streaming answer (transport); 180s
	PoolAcquire   time.Duration // waiting for a connection slot (transport); 5s
	// Total bounds a whole non-streaming call, retries and waits included;
	// 300s. It does not apply to streams, whose healthy life can be longer
	// than any fixed bound: a total deadline that kills long streams is the
	// trap Go LLM SDK users hit most. Streams are bounded by FirstToken and
	// TokenInterval instead, and by TotalStream if set.
	Total time.Duration
	// TotalStream bounds a whole streaming call, body included. Zero means
	// no bound; set it only when a stream must end by a fixed time.
	TotalStream time.Duration
}

// The reference's recommended values.
const (
	DefaultDNSTimeout           = 3 * time.Second
	DefaultConnectTimeout       = 10 * time.Second
	DefaultTLSTimeout           = 10 * time.Second
	DefaultWriteTimeout         = 30 * time.Second
	DefaultFirstTokenTimeout    = 15 * time.Second
	DefaultTokenIntervalTimeout = 10 * time.Second
	DefaultResponseTimeout      = 180 * time.Second
	DefaultPoolAcquireTimeout   = 5 * time.Second
	DefaultTotalTimeout         = 300 * time.Second
)

// or returns d, def when d is zero, and -1 (off, for the packages' own
// Config fields) when d is negative.
func or(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return -1
	}
	return d
}

var _ http.RoundTripper = (*router)(nil)
