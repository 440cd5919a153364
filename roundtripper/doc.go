// Package roundtripper is the middleware core of llmhttp: a [Middleware] wraps
// an [http.RoundTripper] in another, and [Chain] stacks several onto a base
// transport in a documented order.
//
// Every other llmhttp package hands out a Middleware (retry, ratelimit, health,
// observe, sse.Watchdog, janitor) so that they compose with each other and with
// third-party decorators such as otelhttp. The package also defines the small
// interfaces through which one layer tells another what an error means
// ([NotSent], [Replayable], [Rejected]) without the packages importing each
// other.
//
// Most callers want:
//
//	client := &http.Client{Transport: roundtripper.Chain(nil, outer, inner)}
package roundtripper
