// Package ratelimit keeps the calls of an LLM API client under the
// provider's limits instead of bouncing off them: requests per minute,
// tokens per minute, and calls in flight at once, per host (and optionally
// per API key). Most callers want:
//
//	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 500, TokensPerMinute: 200_000, MaxWait: 30 * time.Second})
//	client := &http.Client{Transport: roundtripper.Chain(nil, retry.New(retry.Config{}), lim.Middleware())}
//
// # Buckets
//
// Requests and tokens are token buckets on golang.org/x/time/rate, refilled
// at the per-second rate. The request bucket holds one second's worth (at
// least one request), because providers enforce per-minute limits over
// shorter slices; the token bucket holds a whole minute's worth, because one
// call may rightly need thousands of tokens. A call's token cost is
// estimated from its JSON body: the bytes of its string values / 4 plus
// max_tokens, max_completion_tokens or max_output_tokens
// (Config.DefaultMaxTokens when it names none). The body is read through
// GetBody when the request has one, else read once and replaced by a
// rewindable copy, so the request stays sendable.
//
// The estimate is corrected from the usage the response reports: the
// limiter watches the response body as the caller reads it (no buffering;
// bytes.Index over each chunk) and picks out its "usage" objects, whether a
// JSON completion's, the last chunk of an OpenAI stream with
// stream_options.include_usage, Anthropic's message_start/message_delta or
// a Responses stream's response.completed. When the body ends or is closed
// the difference is charged or credited. A stream without usage keeps its
// estimate; a response that is not 2xx gives its tokens back.
//
// # Waiting
//
// A call waits for its reservation in both buckets, for a concurrency slot
// (Config.MaxConcurrent, first come first served; a stream holds its slot
// until its body is read to the end or closed), and for any hold on its
// host. The limiter knows the bucket wait before it waits: when it would
// exceed Config.MaxWait or the time left before the context's deadline, the
// call fails at once with an error matching [ErrLimited], takes nothing,
// and is never sent. A concurrency wait cannot be known in advance; it is
// bounded by the same limits and fails with ErrLimited when they run out.
// Every wait ends when the call's context does. The error also says
// roundtripper.Rejected, so a retry layer outside (llmhttp.NewClient's)
// returns it at once instead of queueing the call again after a backoff,
// which would turn MaxWait into several MaxWaits.
//
// # Adapting to the server
//
// Each response's x-ratelimit-* (OpenAI) and anthropic-ratelimit-* headers
// are read (with internal/hints): a limit the Config leaves at zero is
// learnt from them; "remaining 0" with a reset holds every call to the host
// until the reset; a lower remaining-tokens than the bucket holds drains the
// bucket to it. A 429 holds back the whole host for the server's wait
// (retry-after-ms, Retry-After, else the reset of the exhausted bucket), so
// concurrent callers do not all hit the wall and retry at once. The 429
// itself goes back to the caller unchanged: the limiter never re-sends
// anything. Missing, malformed or nonsensical headers (Azure's -1 and 0)
// are ignored, and every hold is capped at Config.MaxHold.
//
// # Sharing
//
// The buckets live in a [Store]: by default a [MemoryStore] of the
// Limiter's own; package redislimit keeps them in Redis so that a fleet of
// processes shares one limit. Concurrency, holds and header adaptation stay
// in each process.
package ratelimit
