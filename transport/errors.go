package transport

import (
	"errors"
	"fmt"
	"time"
)

// ErrPoolTimeout means that no connection slot for the request's host became
// free within the pool timeout. Errors returned for it are *PoolTimeoutError
// values, which match ErrPoolTimeout with errors.Is and report NotSent() ==
// true: the request never left the process, so repeating it is safe.
var ErrPoolTimeout = errors.New("transport: pool timeout")

// PoolTimeoutError is the error returned when a request waited
// [Config.PoolTimeout] for a slot and none became free.
type PoolTimeoutError struct {
	Host   string        // host:port the request was for
	Waited time.Duration // the pool timeout it waited
}

// Error names the host and the wait, e.g.
// "transport: pool timeout: api.example.com:443 after 2s".
func (e *PoolTimeoutError) Error() string {
	return fmt.Sprintf("%v: %s after %v", ErrPoolTimeout, e.Host, e.Waited)
}

// Is reports whether target is ErrPoolTimeout.
func (e *PoolTimeoutError) Is(target error) bool { return target == ErrPoolTimeout }

// NotSent reports true: a request that timed out in the pool was never
// written to any connection.
func (e *PoolTimeoutError) NotSent() bool { return true }

// DialError is returned (possibly wrapped by net/http) when a connection could
// not be established. Nothing of the request was sent, so it reports
// NotSent() == true and unwraps to the dialer's error.
type DialError struct {
	Addr string // the address dialed (the proxy's when a proxy is in use)
	Err  error
}

// Error names the address and the dialer's error.
func (e *DialError) Error() string { return fmt.Sprintf("transport: dial %s: %v", e.Addr, e.Err) }

// Unwrap returns the dialer's error.
func (e *DialError) Unwrap() error { return e.Err }

// NotSent reports true: a connection that was never established carried
// nothing of the request.
func (e *DialError) NotSent() bool { return true }
