package roundtripper

import (
	"context"
	"time"
)

// Trace is a set of hooks that llmhttp's layers call as a call goes through
// them, so that an observability layer outside (observe) can report what
// httptrace cannot see: attempts and retry waits, time spent waiting for a
// connection slot, and the progress of a stream. Like httptrace.ClientTrace,
// any hook may be nil, and hooks may be called from several goroutines at
// once, so they must be safe for concurrent use.
//
// A layer reads the Trace once per request with [ContextTrace] and calls the
// hooks it knows about; it never requires one.
type Trace struct {
	// Attempt is called by a retrying layer before each attempt it sends;
	// n counts from 1.
	Attempt func(n int)

	// AttemptDone is called by a retrying layer when attempt n has its
	// outcome: the response's status code, or 0 and the error it failed
	// with. It is how a layer outside sees the status of attempts the
	// caller never gets (a 503 retried away). The response's body must not
	// be touched.
	AttemptDone func(n int, status int, err error)

	// RetryWait is called by a retrying layer when it has decided to wait d
	// after attempt n failed. source says where d came from, such as
	// "retry-after-ms", "retry-after", "x-ratelimit-reset" or "backoff".
	RetryWait func(n int, d time.Duration, source string)

	// PoolWait is called by the transport with how long the request waited
	// for a connection slot; zero when it got one at once.
	PoolWait func(d time.Duration)

	// StreamEvent is called by the stream watchdog for each event-stream
	// event it sees; content is true for a content token (text, tool-call
	// arguments, reasoning), false for envelopes, pings and comments.
	StreamEvent func(content bool)

	// StreamEnd is called once when a watched stream ends, with how it
	// ended and the error the caller's read returned (nil for Completed).
	StreamEnd func(outcome StreamOutcome, err error)
}

// StreamOutcome says how a stream ended: status codes cannot show what went
// wrong after a 200.
type StreamOutcome string

// The outcomes a stream can end with.
const (
	StreamCompleted StreamOutcome = "completed" // its dialect's terminal event arrived
	StreamTruncated StreamOutcome = "truncated" // it ended without its terminal event
	StreamStalled   StreamOutcome = "stalled"   // a first-token or token-interval timeout cut it
	StreamErrored   StreamOutcome = "errored"   // the server sent an error event, or the connection broke
	StreamCancelled StreamOutcome = "cancelled" // the caller closed the body or its context ended
)

type traceKey struct{}

// ContextTrace returns the Trace attached to ctx, or nil.
func ContextTrace(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// WithTrace returns a context carrying t. If ctx already carries a Trace,
// the returned one calls the hooks of both, the old ones first, as
// httptrace.WithClientTrace does. A nil t returns ctx unchanged.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	if t == nil {
		return ctx
	}
	if old := ContextTrace(ctx); old != nil {
		t = old.merge(t)
	}
	return context.WithValue(ctx, traceKey{}, t)
}

func (t *Trace) merge(n *Trace) *Trace {
	return &Trace{
		Attempt:     join1(t.Attempt, n.Attempt),
		AttemptDone: join3(t.AttemptDone, n.AttemptDone),
		RetryWait:   join3(t.RetryWait, n.RetryWait),
		PoolWait:    join1(t.PoolWait, n.PoolWait),
		StreamEvent: join1(t.StreamEvent, n.StreamEvent),
		StreamEnd:   join2(t.StreamEnd, n.StreamEnd),
	}
}

func join1[A any](a, b func(A)) func(A) {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(x A) { a(x); b(x) }
}

func join2[A, B any](a, b func(A, B)) func(A, B) {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(x A, y B) { a(x, y); b(x, y) }
}

func join3[A, B, C any](a, b func(A, B, C)) func(A, B, C) {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(x A, y B, z C) { a(x, y, z); b(x, y, z) }
}
