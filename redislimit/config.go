package redislimit

import (
	"log/slog"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
)

// Config sets the limits shared through Redis. Its first fields are those
// of ratelimit.Config, with the same meaning, except that
// RequestsPerMinute and TokensPerMinute are the limits of the whole fleet;
// MaxConcurrent, cooldowns and what the headers say stay per process.
// New copies the Config.
type Config struct {
	RequestsPerMinute int           // the fleet's requests per minute; 0: learnt from the headers
	TokensPerMinute   int           // the fleet's tokens per minute; 0: learnt from the headers
	MaxConcurrent     int           // calls in flight at once, per process; 0: no limit
	MaxWait           time.Duration // longest wait for capacity; 0: until the context ends; negative: never wait
	PerKey            bool          // separate limits per API key hash as well as per host
	DefaultMaxTokens  int           // output assumed when a body names none; 0 means 1024, negative none
	MaxHold           time.Duration // cap on a hold from one server hint; 0 means one minute
	Cooldown          time.Duration // hold after a 429 naming no wait; 0: none
	Logger            *slog.Logger  // receives holds (debug) and Redis failures (warn); nil: no logging

	// Prefix begins every Redis key the limiter writes. "" means
	// "llmhttp:ratelimit:". Each host (and API key hash) uses two keys,
	// hash-tagged so that both live on one Redis Cluster slot; they expire
	// once their buckets are full again.
	Prefix string

	// Processes is the number of processes sharing the limits. While
	// Redis is unreachable each of them admits 1/Processes of the limits
	// from a local bucket (fail open). 0 means 1.
	Processes int

	// FailClosed refuses calls (with an error matching ratelimit.ErrLimited)
	// while Redis is unreachable, instead of failing open to the local share.
	FailClosed bool

	// Timeout bounds one Redis round trip. 0 means 250ms. go-redis honours
	// it only when the client's ContextTimeoutEnabled is set; otherwise its
	// own ReadTimeout and WriteTimeout (3s by default) bound the call.
	Timeout time.Duration

	// RetryInterval is how long the limiter answers from the local share
	// after Redis failed before it asks Redis again. 0 means one second.
	RetryInterval time.Duration

	// FlushInterval is how often corrections that no call has carried to
	// Redis yet (usage differences, calls not sent) are sent by
	// themselves. 0 means one second.
	FlushInterval time.Duration
}

// limiter is the configuration of the ratelimit.Limiter underneath.
func (c *Config) limiter(st ratelimit.Store) ratelimit.Config {
	return ratelimit.Config{
		RequestsPerMinute: c.RequestsPerMinute,
		TokensPerMinute:   c.TokensPerMinute,
		MaxConcurrent:     c.MaxConcurrent,
		MaxWait:           c.MaxWait,
		PerKey:            c.PerKey,
		DefaultMaxTokens:  c.DefaultMaxTokens,
		MaxHold:           c.MaxHold,
		Cooldown:          c.Cooldown,
		Store:             st,
		Logger:            c.Logger,
	}
}

func (c *Config) prefix() string {
	if c.Prefix == "" {
		return "llmhttp:ratelimit:"
	}
	return c.Prefix
}

func (c *Config) processes() int64 { return int64(max(c.Processes, 1)) }

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 250 * time.Millisecond
	}
	return c.Timeout
}

func (c *Config) retryInterval() time.Duration {
	if c.RetryInterval <= 0 {
		return time.Second
	}
	return c.RetryInterval
}

func (c *Config) flushInterval() time.Duration {
	if c.FlushInterval <= 0 {
		return time.Second
	}
	return c.FlushInterval
}
