package ratelimit

import (
	"log/slog"
	"time"
)

// Config sets the client-side limits. The zero Config sets none of its own
// but still learns the server's limits from its rate-limit headers and
// honours a 429's cooldown; each static limit only adds to what the server
// says. New copies the Config: later changes to it have no effect.
type Config struct {
	// RequestsPerMinute limits the requests sent to one host (and API key,
	// with PerKey) per minute, with a burst of one second's worth (at least
	// one). 0: no static limit; the limit is learnt from the server's
	// x-ratelimit-limit-requests or anthropic-ratelimit-requests-limit.
	RequestsPerMinute int

	// TokensPerMinute limits the tokens (estimated from each request body,
	// corrected from the response's usage) per minute; the bucket holds a
	// whole minute's worth. 0: no static limit; the limit is learnt from
	// x-ratelimit-limit-tokens or anthropic-ratelimit-tokens-limit.
	TokensPerMinute int

	// MaxConcurrent limits the calls in flight to one host at once, served
	// in arrival order. A call is in flight until its response body is
	// read to the end or closed; a stream holds its slot until then.
	// 0: no limit.
	MaxConcurrent int

	// MaxWait is the longest a call may wait for capacity. A call that
	// would have to wait longer, or past its context's deadline, fails at
	// once with ErrLimited, unsent. 0: until its context ends; negative:
	// never wait (fail whenever capacity is not there at once).
	MaxWait time.Duration

	// PerKey keeps separate limits for each API key (Authorization,
	// x-api-key or api-key header) as well as each host. Keys are told
	// apart by a SHA-256 hash; the key itself is never stored. Holds
	// (a 429's cooldown, an exhausted bucket) then apply per key too, as
	// providers limit each key apart. false: one set of limits per host.
	PerKey bool

	// DefaultMaxTokens is the output a call is assumed to need when its
	// body names no max_tokens, max_completion_tokens or max_output_tokens.
	// 0 means 1024; negative means none.
	DefaultMaxTokens int

	// MaxHold caps how long one server hint holds back a host: a 429's
	// Retry-After, or a reset when the server says nothing is left. A
	// longer hint is taken as this, so no header, however wrong, stops a
	// host for good. 0 means one minute.
	MaxHold time.Duration

	// Cooldown is the hold after a 429 that names no wait (no
	// Retry-After, retry-after-ms, or reset). 0: none; the 429 goes back
	// to the caller, whose retry decides.
	Cooldown time.Duration

	// Store holds the request and token buckets. nil: a MemoryStore of
	// this Limiter's own. redislimit passes one kept in Redis.
	Store Store

	// Logger receives a record (at debug level) when a host is held back.
	// nil: no logging.
	Logger *slog.Logger
}

func (c *Config) defaultMaxTokens() int64 {
	switch {
	case c.DefaultMaxTokens == 0:
		return 1024
	case c.DefaultMaxTokens < 0:
		return 0
	}
	return int64(c.DefaultMaxTokens)
}

func (c *Config) maxHold() time.Duration {
	if c.MaxHold <= 0 {
		return time.Minute
	}
	return c.MaxHold
}
