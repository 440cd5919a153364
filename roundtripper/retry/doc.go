// Package retry re-sends failed LLM API calls with jittered exponential
// backoff, obeying the server's wait hints, without billing a paid POST twice
// by accident and without turning an outage into a retry storm. Most callers
// want:
//
//	client := &http.Client{Transport: roundtripper.Chain(base, retry.New(retry.Config{}))}
//
// # What is retried
//
// By default: a failure before the server had the request (refused
// connection, DNS failure, a reset while the request was still being
// written, any error reporting roundtripper.NotSent, such as
// transport.ErrPoolTimeout); statuses 408, 409, 429, 500, 502, 503, 504 and
// Anthropic's 529 ([DefaultStatuses]); and errors reporting
// roundtripper.Replayable, such as sse.ErrFirstTokenTimeout — a stream that
// stalled before its first token is replaced even without an idempotency key,
// because the caller has seen nothing (the server may bill the abandoned
// prompt; Config.NoReplay turns this off). Never: 400, 401, 403, 404, 422,
// certificate errors, the caller's own cancellation or deadline, or an error
// reporting roundtripper.Rejected — a layer below that turned the call away
// by its own policy (ratelimit.ErrLimited past its MaxWait,
// health.ErrNoHealthyEndpoint with every endpoint out): that layer has
// already spent the wait it allows, so the error goes back at once, even
// though it is also NotSent.
//
// A 429 whose body says the money is gone (OpenAI insufficient_quota,
// Anthropic enforced_spend_limit_reached) is not retried: the first 4 KiB of
// a retryable error body are read to decide, and the caller reads the same
// bytes afterwards. The x-should-retry response header (true or false)
// overrides the status rule on any response but a 2xx (a paid success is
// never thrown away).
//
// A failure after the request may have reached the server — a reset after
// the body was written, an attempt timeout while waiting for headers — is
// ambiguous: it is retried only for idempotent methods, for requests carrying
// an Idempotency-Key header, or with Config.RetryAmbiguous.
// Config.AddIdempotencyKey gives every request lacking one a fresh key, kept
// across its attempts.
//
// # Waits
//
// The wait before a retry comes from the server when it gave one:
// retry-after-ms, then Retry-After (delta-seconds or HTTP-date), then, on a
// 429, the rate-limit reset headers (OpenAI's x-ratelimit-reset-requests and
// -tokens, Anthropic's anthropic-ratelimit-*-reset). Jitter is added on top of
// a server wait, never taken off it. A server wait longer than
// Config.MaxRetryAfter is not waited out: that response goes back to the
// caller at once. Without a hint the wait is "full jitter" backoff,
// rand[0, min(MaxDelay, BaseDelay·2^(n-1))) before retry n.
//
// Besides MaxRetries, retrying stops when the next wait would end after the
// caller's deadline: the call returns at once an *Error matching ErrDeadline,
// instead of sleeping into a certain timeout. Every wait ends when the
// caller's context does.
//
// # Per-attempt timeout
//
// Config.AttemptTimeout bounds one attempt's wait for response headers, never
// its body. It is a timer that cancels the attempt's context with the cause
// ErrAttemptTimeout, rather than context.WithTimeoutCause, because a
// context deadline cannot be lifted once the headers are in and would cut
// the stream that follows. The cause tells it apart from the caller's own
// deadline, so a timed-out attempt is classified like any other failure
// after sending (retried when idempotent, keyed or RetryAmbiguous) instead
// of ending the call.
//
// # Retry budget
//
// Retries to a host are limited to 20% of its calls of the last 10
// seconds, with a floor of 3 a second (a burst of 5) that only matters when
// traffic is light (see [Budget]). During a total outage the server sees
// about 1.2 attempts per call (measured: 1.20 for 400 calls with MaxRetries
// 3) instead of MaxRetries+1 = 4, while a lone caller still gets all its
// retries. A Budget can be shared between
// decorators (Config.Budget) or switched off (Config.DisableBudget).
//
// # Stacked retries
//
// The Stainless SDKs (openai-go, anthropic-sdk-go) retry twice by default, so
// stacking them on this decorator multiplies attempts (3 × 4 = 12). A request
// arriving with X-Stainless-Retry-Count > 0 is counted against the budget as
// a retry, and when the header is present every attempt made here sends the
// true count (the SDK's count plus the retries made here), so the server's
// logs see real attempt numbers. To have only one layer retry, either give
// the SDK option.WithMaxRetries(0) and let this package retry (recommended:
// it honours more hints and has the budget), or set MaxRetries: -1 here.
//
// # Bodies and responses
//
// The request body is replayed byte for byte from GetBody on each attempt; a
// body without GetBody is sent once and its failure never retried (an *Error
// matching ErrBodyNotRewindable), rather than repeated empty. The response of
// a failed attempt is drained (up to 4 KiB) and closed so that its
// connection returns to the pool; the pool itself is never emptied. The final
// response reaches the caller as the transport gave it — not drained, not
// buffered — so streams stream (its Body is the transport's own, except that
// an error body peeked at, or a response under AttemptTimeout, gets a thin
// wrapper yielding the very same bytes). When retries run out on a response (a 429 or
// a 5xx), the caller gets that response, whole, for the SDK above to parse.
// When the last attempt ended without one, the error is an *Error naming the
// attempts, the last failure, and the last status, body snippet and request
// ID seen. Redirects and cookies are left to the outer http.Client.
//
// # How the two paths fit
//
// The first attempt is sent directly, with the caller's request untouched
// (unless AddIdempotencyKey or AttemptTimeout need a copy), and a response
// that is not retried returns at once: the common case pays a budget
// deposit and a couple of map lookups. Only a first attempt worth retrying
// hands the call to go-retryablehttp's Client, configured with this package's
// CheckRetry (the decision above), a zero Backoff and a PrepareRetry that
// waits and rewinds the body, a pass-through error handler, an inner
// http.Client that follows no redirect, no logger, and a transport without
// CloseIdleConnections, so none of that library's known faults apply.
//
// # Observing attempts
//
// Config.OnAttempt and Config.Logger see every attempt (host, attempt
// number, status or error, the wait and its source; never a credential). A
// layer outside retry (observe) sees them through the roundtripper.Trace in
// the request's context: Attempt before each attempt, AttemptDone with its
// status or error when it returns, RetryWait before each wait. A layer inside reads the attempt number with [AttemptFromContext].
package retry
