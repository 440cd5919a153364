// Package redislimit is ratelimit for a fleet: the same middleware, with
// its request and token buckets held in Redis, so that N processes sharing
// one API key together keep to one RPM/TPM limit. Most callers want:
//
//	lim := redislimit.New(rdb, redislimit.Config{
//		RequestsPerMinute: 500, TokensPerMinute: 200_000, MaxWait: 30 * time.Second,
//		Processes: 8,
//	})
//	defer lim.Close()
//	client := &http.Client{Transport: roundtripper.Chain(nil, lim.Middleware())}
//
// The buckets are GCRA (the generic cell rate algorithm) in one Lua
// script, one Redis round trip per call: it takes from both buckets or neither,
// tells the call how long to wait (it reserves, so a waiting call does not
// ask again), and carries the corrections earlier calls left behind (usage
// differences, calls that were not sent), which a background loop also
// sends every FlushInterval. It runs on Redis's clock, so the processes'
// clocks need not agree. github.com/go-redis/redis_rate was not used: its
// AllowN limits one key per round trip (two for RPM and TPM, not atomic),
// cannot reserve (a call that must wait has to poll Redis again, and
// waiting callers are served in no order), and has no way to credit a
// bucket.
//
// Concurrency limits, cooldowns after a 429 and what the response headers
// say stay per process, as in ratelimit: every process sees the headers of
// its own calls, and a provider's "nothing left" reaches all of them. (So
// a remaining-tokens lower than the shared bucket holds is not written to
// Redis; each process holds back by itself when it reaches 0.)
//
// # When Redis is unreachable
//
// A failed round trip (Config.Timeout bounds it) switches the limiter to a
// local bucket holding 1/Processes of the limits (fail open), for
// Config.RetryInterval, after which it asks Redis again. It logs the switch
// (when Config.Logger is set) and counts it in Stats().Redis. With
// Config.FailClosed, calls are refused instead, with an error matching
// ratelimit.ErrLimited. A caller never waits for Redis longer than
// Timeout; set ContextTimeoutEnabled on the go-redis client (or short read
// and write timeouts) so that go-redis honours it, and consider
// DialerRetries: 1, as go-redis otherwise dials a dead server five times.
package redislimit
