package retry

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrAttemptTimeout is the cause of an attempt cut by
	// Config.AttemptTimeout while it waited for response headers. It tells
	// the attempt's own deadline apart from the caller's: the caller's
	// context ending is never retried, this is.
	ErrAttemptTimeout = errors.New("retry: attempt timed out waiting for response headers")

	// ErrDeadline means the next wait would have ended after the caller's
	// deadline, so the call gave up at once instead of sleeping into a
	// certain timeout. The Error carrying it has the wait in Wait.
	ErrDeadline = errors.New("retry: next wait ends after the caller's deadline")

	// ErrBudgetExhausted means the host's retry budget had nothing left,
	// so a failure that could have been retried was not.
	ErrBudgetExhausted = errors.New("retry: retry budget exhausted")

	// ErrBodyNotRewindable means the request body had no GetBody, so the
	// request was sent once and its failure not retried (rather than
	// repeating it with an empty body).
	ErrBodyNotRewindable = errors.New("retry: request body cannot be rewound")
)

// Error is returned when a call ends without a response to give back: the
// last attempt failed with an error, or retrying was stopped by the caller's
// deadline. It says how many attempts were made and what the last response
// seen (if any) said. It unwraps to the last failure and to Reason, so
// errors.Is(err, context.Canceled), roundtripper.NotSent(err) and
// errors.Is(err, ErrDeadline) all work through it.
//
// It never contains a header value, a URL query or userinfo, or more of a
// body than a short snippet with anything resembling a key removed.
type Error struct {
	Host      string        // the request's host (and port, if given)
	Attempts  int           // attempts made, the first included
	Status    int           // status of the last response seen; 0 if none came
	RequestID string        // x-request-id or request-id of the last response seen
	Snippet   string        // start of the last error body seen, credential-free
	Wait      time.Duration // with ErrDeadline: the wait that did not fit
	Reason    error         // why retrying stopped early, if it did: ErrDeadline, ErrBudgetExhausted, ErrBodyNotRewindable; else nil
	Err       error         // the last failure; nil when the last attempt was a response
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("retry: ")
	b.WriteString(e.Host)
	b.WriteString(": gave up after ")
	b.WriteString(plural(e.Attempts, "attempt"))
	if e.Status != 0 {
		fmt.Fprintf(&b, ", last status %d", e.Status)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	if e.Snippet != "" {
		fmt.Fprintf(&b, " %q", e.Snippet)
	}
	if e.Reason != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Reason.Error(), "retry: "))
		if errors.Is(e.Reason, ErrDeadline) {
			fmt.Fprintf(&b, " (wait %v)", e.Wait.Round(time.Millisecond))
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the last failure and the reason retrying stopped.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Reason != nil {
		errs = append(errs, e.Reason)
	}
	return errs
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// attemptTimeoutError is the failure of an attempt cut by AttemptTimeout. It
// deliberately does not unwrap to the transport's context.Canceled: layers
// outside must not mistake the attempt's deadline for the caller's cancel.
type attemptTimeoutError struct {
	after time.Duration
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("retry: attempt timed out after %v waiting for response headers", e.after)
}

func (e *attemptTimeoutError) Is(target error) bool { return target == ErrAttemptTimeout }

// Timeout reports true, as net.Error timeouts do.
func (e *attemptTimeoutError) Timeout() bool { return true }
