package faultmatrix

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
	"github.com/llmhttp/llmhttp/sse"
	"github.com/llmhttp/llmhttp/transport"
)

// kinds name errors by the first sentinel in this list they match, most
// specific first.
var kinds = []struct {
	name string
	err  error
}{
	{"first-token timeout", sse.ErrFirstTokenTimeout},
	{"token-interval timeout", sse.ErrTokenIntervalTimeout},
	{"stream cut", sse.ErrStreamCut},
	{"stream truncated", sse.ErrTruncated},
	{"error event", sse.ErrErrorEvent},
	{"total timeout", llmhttp.ErrTotalTimeout},
	{"write timeout", llmhttp.ErrWriteTimeout},
	{"pool timeout", transport.ErrPoolTimeout},
	{"rate limited", ratelimit.ErrLimited},
	{"attempt timeout", retry.ErrAttemptTimeout},
	{"retry deadline", retry.ErrDeadline},
	{"retry budget", retry.ErrBudgetExhausted},
	{"body not rewindable", retry.ErrBodyNotRewindable},
	{"client closed", llmhttp.ErrClosed},
	{"deadline", context.DeadlineExceeded},
	{"canceled", context.Canceled},
	{"conn reset", syscall.ECONNRESET},
	{"conn refused", syscall.ECONNREFUSED},
	{"broken pipe", syscall.EPIPE},
	{"unexpected EOF", io.ErrUnexpectedEOF},
	{"EOF", io.EOF},
}

// timeout reports whether any error in err's tree says Timeout() == true.
// errors.As would stop at the first net.Error, such as the *url.Error on
// top, which answers for its direct cause only.
func timeout(err error) bool {
	if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if next := u.Unwrap(); next != nil {
			return timeout(next)
		}
	case interface{ Unwrap() []error }:
		for _, next := range u.Unwrap() {
			if timeout(next) {
				return true
			}
		}
	}
	return false
}

// classify names err's kind and says whether it is typed: matched by a
// sentinel or type of llmhttp's or a standard one under them. The kind of
// a net.Error timeout that matches no sentinel (net/http's "timeout
// awaiting response headers") is "timeout".
func classify(err error) (kind string, typed bool) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name, true
		}
	}
	if timeout(err) {
		return "timeout", true
	}
	var (
		re *retry.Error
		se *sse.StreamError
		te *llmhttp.TimeoutError
		de *transport.DialError
	)
	switch {
	case errors.As(err, &re):
		return "retry error", true
	case errors.As(err, &se):
		return "stream error", true
	case errors.As(err, &te):
		return "timeout", true
	case errors.As(err, &de):
		return "dial error", true
	}
	return "untyped", false
}
