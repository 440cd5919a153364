package retry

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults applied to a zero Config.
const (
	DefaultMaxRetries    = 3
	DefaultBaseDelay     = 500 * time.Millisecond
	DefaultMaxDelay      = 30 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
)

// StatusSiteOverloaded is Anthropic's 529 "overloaded_error".
const StatusSiteOverloaded = 529

// DefaultStatuses are the response statuses retried when Config.Statuses is
// nil: request timeout, conflict (OpenAI answers 409 to a concurrent change
// of the same resource), rate limited, the transient 5xx, and Anthropic's 529.
// 400, 401, 403, 404 and 422 are never in it: repeating them cannot help.
var DefaultStatuses = []int{
	http.StatusRequestTimeout,
	http.StatusConflict,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
	StatusSiteOverloaded,
}

// Config configures the retry decorator. The zero value is ready to use:
// three retries with jittered exponential backoff from 500ms, server waits
// up to a minute honoured, ambiguous failures of non-idempotent requests not
// repeated, and a retry budget of its own.
type Config struct {
	// MaxRetries is the number of retries after the first attempt; zero
	// means 3, a negative value disables retries (each call is sent once).
	MaxRetries int

	// BaseDelay is the first backoff step; zero means 500ms.
	BaseDelay time.Duration

	// MaxDelay caps one computed backoff (not a server-given wait); zero
	// means 30s.
	MaxDelay time.Duration

	// MaxRetryAfter is the longest server-requested wait (retry-after-ms,
	// Retry-After, rate-limit reset) that is waited out; zero means 60s. A
	// response asking for longer is not retried: it goes back to the caller
	// at once, so that the caller (or a human) decides.
	MaxRetryAfter time.Duration

	// AttemptTimeout bounds how long one attempt waits for its response
	// headers; zero means no bound of its own (the caller's context still
	// applies). It never bounds the body: once headers have arrived, a
	// stream may run as long as the caller's context allows. An attempt cut
	// by it fails with an error matching ErrAttemptTimeout and is retried by
	// the same rules as any other failure after the request was sent
	// (idempotent, keyed or RetryAmbiguous), without ending the call.
	AttemptTimeout time.Duration

	// Statuses lists the response statuses that are retried; nil means
	// DefaultStatuses, an empty non-nil slice retries no status. The
	// x-should-retry response header of a non-2xx response overrides this
	// list either way.
	Statuses []int

	// RetryAmbiguous retries failures that happened after the request may
	// have reached the server (a reset after the body was written, a timeout
	// waiting for headers) even for a non-idempotent request without an
	// Idempotency-Key header. False (the default) retries them only for
	// GET, HEAD, OPTIONS, TRACE, PUT and DELETE, and for requests carrying
	// Idempotency-Key, so that a paid POST is not run twice by accident.
	RetryAmbiguous bool

	// NoReplay turns off retrying errors that say the caller saw nothing of
	// the attempt (roundtripper.Replayable, such as sse.ErrFirstTokenTimeout).
	// False (the default) retries them even without an idempotency key: the
	// caller has seen nothing and a stalled generation is what users want
	// replaced. The server may bill the abandoned prompt; set NoReplay when
	// that is not acceptable.
	NoReplay bool

	// Retryable, if not nil, overrides the rules above for the attempts it
	// decides: it is asked after every attempt (a success included) and
	// returns whether to retry and whether it decided at all; when decided
	// is false the rules above apply. The caller's own cancellation is never
	// retried, and MaxRetries, the waits, the deadline, a body that cannot
	// be rewound and the budget still apply. It may be called from several
	// goroutines at once and must not read resp.Body.
	Retryable func(resp *http.Response, err error) (retry, decided bool)

	// AddIdempotencyKey gives every request that lacks an Idempotency-Key
	// header a fresh random one, kept across its attempts, so that ambiguous
	// failures become safe to retry on servers that honour the header.
	AddIdempotencyKey bool

	// Budget limits retries to a share of recent traffic per host. Nil means
	// a budget of this decorator's own with the default BudgetConfig; pass
	// one from NewBudget to share it between decorators.
	Budget *Budget

	// DisableBudget turns the retry budget off: every call may use all of
	// MaxRetries, even during a total outage.
	DisableBudget bool

	// OnAttempt, if not nil, is called after every attempt, including a
	// first one that succeeded, with what happened and what comes next. It
	// may be called from several goroutines at once.
	OnAttempt func(Attempt)

	// Logger, if not nil, receives one record per attempt (Debug for a
	// success, Info for a retry, Warn when giving up): host, method,
	// attempt, status or error, the wait chosen and its source. No header
	// value, URL query or body is logged. Nil means no logging.
	Logger *slog.Logger
}

func (c *Config) maxRetries() int {
	switch {
	case c.MaxRetries < 0:
		return 0
	case c.MaxRetries == 0:
		return DefaultMaxRetries
	}
	return c.MaxRetries
}

func (c *Config) baseDelay() time.Duration {
	if c.BaseDelay <= 0 {
		return DefaultBaseDelay
	}
	return c.BaseDelay
}

func (c *Config) maxDelay() time.Duration {
	if c.MaxDelay <= 0 {
		return DefaultMaxDelay
	}
	return c.MaxDelay
}

func (c *Config) maxRetryAfter() time.Duration {
	if c.MaxRetryAfter <= 0 {
		return DefaultMaxRetryAfter
	}
	return c.MaxRetryAfter
}

func (c *Config) statuses() []int {
	if c.Statuses == nil {
		return DefaultStatuses
	}
	return c.Statuses
}
