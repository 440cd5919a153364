package roundtripper

import "net/http"

// Middleware decorates an http.RoundTripper with another. The returned
// RoundTripper must honour the http.RoundTripper contract: it must be safe for
// concurrent use, must not modify the caller's request (clone it first), must
// close the request body on every path, and must return a nil error whenever a
// response was received, whatever its status.
type Middleware func(http.RoundTripper) http.RoundTripper

// Func adapts an ordinary function to the http.RoundTripper interface, as
// http.HandlerFunc does for handlers.
type Func func(*http.Request) (*http.Response, error)

// RoundTrip calls f(req).
func (f Func) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

var _ http.RoundTripper = Func(nil)

// Chain stacks mws onto base and returns the outermost RoundTripper.
//
// Chain(base, a, b, c) is a(b(c(base))): a request passes through a first and
// reaches base last, and a response comes back through c first and a last.
// A nil base means http.DefaultTransport; nil middlewares are skipped.
//
// The chain is built once, here: a request through it pays only for what the
// decorators themselves do, nothing per request for the chaining.
func Chain(base http.RoundTripper, mws ...Middleware) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	rt := base
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			rt = mws[i](rt)
		}
	}
	return rt
}
