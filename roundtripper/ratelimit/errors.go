package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// ErrLimited is matched (with errors.Is) by every error the limiter returns
// for a call it refused: the call would have had to wait longer than
// Config.MaxWait or its context's deadline allows, it needs more tokens than
// the bucket can ever hold, its context ended while it waited, or (fail
// closed) the shared Store could not be asked. A refused call was never sent
// and took nothing from any bucket.
var ErrLimited = errors.New("ratelimit: limited")

// Never is the Wait of a refusal that no wait would have cured: the call
// needs more than a whole bucket.
const Never = time.Duration(1<<63 - 1)

// LimitedError is the error of a refused call. It matches ErrLimited, and
// also its cause (a context error, a Store error) when it has one. It
// implements roundtripper.NotSentError (the request never left the process)
// and roundtripper.RejectedError: the limiter has already spent the wait it
// allows, so a retry layer outside returns the error at once instead of
// sending the call back into the same queue after a backoff, which would
// defeat MaxWait.
type LimitedError struct {
	Host    string        // the host the call was for (never a credential)
	Reason  string        // what it waited for: "requests", "tokens", "cooldown", "concurrency" or "store"
	Wait    time.Duration // how long it would have had to wait in all; Never if no wait would do; 0 if unknown
	Allowed time.Duration // how long it was allowed to wait (MaxWait or its deadline); -1 when unbounded
	Err     error         // the cause, if any: the context's error, or the Store's
}

var (
	_ roundtripper.NotSentError  = (*LimitedError)(nil)
	_ roundtripper.RejectedError = (*LimitedError)(nil)
)

// Error says which host, what for, and how long the call would have waited.
func (e *LimitedError) Error() string {
	switch {
	case e.Err != nil && (errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, context.DeadlineExceeded)):
		return fmt.Sprintf("ratelimit: %s: limited: gave up waiting for %s: %v", e.Host, e.Reason, e.Err)
	case e.Reason == "store":
		return fmt.Sprintf("ratelimit: %s: limited: limit store unavailable: %v", e.Host, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("ratelimit: %s: limited: gave up waiting for %s: %v", e.Host, e.Reason, e.Err)
	case e.Wait == 0:
		return fmt.Sprintf("ratelimit: %s: limited: no %s slot free within the %v allowed", e.Host, e.Reason, e.Allowed.Round(time.Millisecond))
	case e.Wait == Never:
		return fmt.Sprintf("ratelimit: %s: limited: the call needs more %s than the bucket holds", e.Host, e.Reason)
	case e.Allowed < 0:
		return fmt.Sprintf("ratelimit: %s: limited: would have had to wait %v for %s", e.Host, e.Wait.Round(time.Millisecond), e.Reason)
	default:
		return fmt.Sprintf("ratelimit: %s: limited: would have had to wait %v for %s, more than the %v allowed",
			e.Host, e.Wait.Round(time.Millisecond), e.Reason, e.Allowed.Round(time.Millisecond))
	}
}

// Is reports whether target is ErrLimited.
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// Unwrap returns the cause, if any.
func (e *LimitedError) Unwrap() error { return e.Err }

// NotSent reports true: a refused call never reached the server.
func (e *LimitedError) NotSent() bool { return true }

// Rejected reports true: the limiter turned the call away by its own limits,
// and retrying it must not restart the wait it refused.
func (e *LimitedError) Rejected() bool { return true }
