package retry

import (
	"context"
	"log/slog"
	"time"
)

// Attempt describes one attempt of a call, as given to Config.OnAttempt.
type Attempt struct {
	Host   string // the request's host (and port, if given)
	Method string
	N      int   // the attempt's number, from 1
	Status int   // the response status; 0 when the attempt failed with Err
	Err    error // the attempt's failure, without the URL http.Client adds

	// Retry says whether another attempt follows, after Wait.
	Retry bool
	// Wait is the pause before the next attempt (when Retry), or the wait
	// that was refused (ReasonOverCap, ReasonDeadline).
	Wait time.Duration
	// WaitSource says where Wait came from: "retry-after-ms",
	// "retry-after", "x-ratelimit-reset", "anthropic-ratelimit-reset" or
	// "backoff"; empty when there is no wait.
	WaitSource string
	// Reason says why the attempt was or was not retried (the Reason…
	// constants).
	Reason string
}

type attemptKey struct{}

// AttemptFromContext returns the number of the attempt whose request carries
// ctx, for layers inside retry (health, ratelimit, the stream watchdog, the
// transport). Retries carry their number (2, 3, …) in their request's
// context; the first attempt is sent with the caller's request untouched, to
// keep the common case free, so a context without a number is attempt 1 —
// whether or not it passed through retry.
//
// Layers outside retry (observe) see attempts through the roundtripper.Trace
// in the request's context instead: retry calls its Attempt hook before each
// attempt and its RetryWait hook before each wait, and through
// Config.OnAttempt after each attempt.
func AttemptFromContext(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

// report tells the hook and the logger about one attempt.
func (t *transport) report(ctx context.Context, a Attempt) {
	if t.cfg.OnAttempt != nil {
		t.cfg.OnAttempt(a)
	}
	lg := t.cfg.Logger
	if lg == nil {
		return
	}
	level := slog.LevelDebug
	msg := "retry: attempt succeeded"
	switch {
	case a.Retry:
		level, msg = slog.LevelInfo, "retry: attempt failed, retrying"
	case a.Reason != ReasonSuccess:
		level, msg = slog.LevelWarn, "retry: attempt failed, giving up"
	}
	if !lg.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("host", a.Host),
		slog.String("method", a.Method),
		slog.Int("attempt", a.N),
		slog.String("reason", a.Reason))
	if a.Status != 0 {
		attrs = append(attrs, slog.Int("status", a.Status))
	}
	if a.Err != nil {
		attrs = append(attrs, slog.String("error", a.Err.Error()))
	}
	if a.WaitSource != "" {
		attrs = append(attrs, slog.Duration("wait", a.Wait), slog.String("wait_source", a.WaitSource))
	}
	lg.LogAttrs(ctx, level, msg, attrs...)
}
