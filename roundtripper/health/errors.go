package health

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// ErrNoHealthyEndpoint is matched (with errors.Is) by the error a call gets
// when no endpoint can take it: all are ejected, or every one in service
// failed before the request reached it. The error is an *UnavailableError.
var ErrNoHealthyEndpoint = errors.New("health: no healthy endpoint")

// UnavailableError is returned when no endpoint can take a call. It matches
// ErrNoHealthyEndpoint, says NotSent() == true (nothing of this call reached
// any server), and unwraps to the last error the call met, if it tried any
// endpoint. When every endpoint was out before the call started (Err is nil),
// or the last error was itself a rejection by a layer below (a rate
// limiter's on every endpoint), it also says Rejected() == true, so that a
// retry layer outside fails the call at once, as the health doc promises,
// instead of backing off and waiting into the caller's deadline; an ejected
// endpoint comes back through probes or its trial call, not through
// retries. When the call itself tried endpoints and each failed before
// reaching its server (refused connections, say), the error is not a
// rejection, and retry may repeat it after a backoff.
type UnavailableError struct {
	// Endpoints lists every endpoint, most preferred first, with why it
	// could not take the call.
	Endpoints []OutEndpoint
	// Err is the last error this call met, or nil when every endpoint was
	// out before it started.
	Err error
}

// OutEndpoint is an endpoint that could not take a call, and why.
type OutEndpoint struct {
	Endpoint string // the base URL, without userinfo or query
	Reason   string // e.g. "ejected: 2 failed probes in a row, last: status 503"
}

// Error lists each endpoint and why it is out, for example
// "health: no healthy endpoint: http://10.0.0.1:8000/v1 (ejected: 5 failed
// calls in a row, last: status 503; trial in 30s), http://10.0.0.2:8000/v1
// (this call: connection refused)".
func (e *UnavailableError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoHealthyEndpoint.Error())
	for i, o := range e.Endpoints {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(o.Endpoint)
		b.WriteString(" (")
		b.WriteString(o.Reason)
		b.WriteString(")")
	}
	return b.String()
}

// Is reports whether target is ErrNoHealthyEndpoint.
func (e *UnavailableError) Is(target error) bool { return target == ErrNoHealthyEndpoint }

// Unwrap returns the last error the call met, if any.
func (e *UnavailableError) Unwrap() error { return e.Err }

// NotSent reports true: the call reached no server.
func (e *UnavailableError) NotSent() bool { return true }

// Rejected reports whether the checker turned the call away without trying
// any endpoint for it, or the last endpoint tried was refused by a layer
// below by policy: see UnavailableError.
func (e *UnavailableError) Rejected() bool {
	return e.Err == nil || roundtripper.Rejected(e.Err)
}

// maxReason bounds the text an error contributes to a reason.
const maxReason = 200

// errReason describes err in a few words for Stats, logs and errors. It
// drops the *url.Error wrapper, whose URL could carry a key in its query.
func errReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if s == "" {
		s = fmt.Sprintf("%T", err)
	}
	if len(s) > maxReason {
		s = s[:maxReason] + "…"
	}
	return s
}
