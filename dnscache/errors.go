package dnscache

import (
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// ErrClosed is returned by lookups that would have to ask the upstream, and
// by dials that need such a lookup, after Close. Cached answers are still
// served after Close.
var ErrClosed = errors.New("dnscache: cache closed")

// LookupError is returned when a host could not be resolved: the upstream
// failed, timed out or said the name does not exist, now or within
// Config.NegativeTTL before. It wraps the resolver's error, usually a
// *net.DNSError, so errors.As finds it. Nothing was sent to the host, so
// NotSent reports true.
type LookupError struct {
	Host   string // the name looked up
	Cached bool   // the failure was remembered from an earlier query (negative caching)
	Err    error  // the underlying error: *net.DNSError, context.DeadlineExceeded, ErrClosed...
}

// Error names the host, says whether the failure was remembered, and gives
// the cause.
func (e *LookupError) Error() string {
	var b strings.Builder
	b.WriteString("dnscache: lookup ")
	b.WriteString(e.Host)
	if e.Cached {
		b.WriteString(" (cached failure)")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *LookupError) Unwrap() error { return e.Err }

// NotSent reports true: a failed lookup means no connection was made, so
// nothing reached the server (see roundtripper.NotSentError).
func (e *LookupError) NotSent() bool { return true }

// IsNotFound reports whether the upstream said the name has no addresses of
// the families asked for.
func (e *LookupError) IsNotFound() bool { return isNotFound(e.Err) }

// ErrFamily is wrapped by a LookupError when the network asked for has no
// address family in common with Config.Family ("ip6" with FamilyIPv4).
var ErrFamily = errors.New("dnscache: address family not enabled")

func isNotFound(err error) bool {
	var d *net.DNSError
	return errors.As(err, &d) && d.IsNotFound
}

// DialError is returned by DialContext when no address of the host accepted
// a connection. Errs holds one error per address tried, in the order the
// attempts ended (usually *net.OpError); errors.As and errors.Is search them
// all. No connection was established, so nothing reached the server and
// NotSent reports true.
type DialError struct {
	Address string  // the address asked for, host:port
	Tried   int     // how many addresses were tried
	Errs    []error // one per failed attempt, at least one
}

// Error names the address and gives the first failure (and how many
// addresses failed when there were several).
func (e *DialError) Error() string {
	var b strings.Builder
	b.WriteString("dnscache: dial ")
	b.WriteString(e.Address)
	b.WriteString(": ")
	if e.Tried > 1 {
		b.WriteString(strconv.Itoa(e.Tried))
		b.WriteString(" addresses failed, first: ")
	}
	if len(e.Errs) > 0 {
		b.WriteString(e.Errs[0].Error())
	} else {
		b.WriteString("no address")
	}
	return b.String()
}

// Unwrap returns the errors of the attempts.
func (e *DialError) Unwrap() []error { return e.Errs }

// NotSent reports true: no connection was established, so no byte of any
// request reached the server (see roundtripper.NotSentError).
func (e *DialError) NotSent() bool { return true }

var (
	_ roundtripper.NotSentError = (*LookupError)(nil)
	_ roundtripper.NotSentError = (*DialError)(nil)
)
