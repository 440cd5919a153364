package roundtripper

import "errors"

// An error tells the decorators outside the layer that produced it what it
// means through these interfaces, so that retry and health need not import
// transport, sse or dnscache to recognise their errors.

// NotSentError is implemented by errors that know whether the request they
// ended reached the server. A pool timeout, a refused connection or a failed
// DNS lookup report NotSent() == true: nothing was written, so repeating the
// request cannot bill or act twice.
type NotSentError interface {
	error
	NotSent() bool
}

// ReplayableError is implemented by errors that end an attempt whose response
// the caller has not seen any of, and that the layer producing them wants
// repeated even though the server may have received the request: a stream
// that stalled, was cut or failed before its first token (sse.Watchdog). The
// server may bill the abandoned attempt; a caller that cannot accept that
// turns the retry of such errors off in the retry decorator.
type ReplayableError interface {
	error
	Replayable() bool
}

// RejectedError is implemented by errors with which a layer of this process
// turned a call away by its own policy, before sending it: a rate limiter
// whose wait would exceed its MaxWait, a health checker with every endpoint
// out of service. The layer that rejected the call has already decided how
// long it may wait, and sending it again after a backoff would either meet
// the same refusal or wait out the very time the caller's limit forbids, so
// a retrying decorator outside returns such an error to the caller at once.
// Rejected errors usually say NotSent() == true as well (nothing reached a
// server); Rejected takes precedence for retrying, while NotSent still lets
// a failover layer move the call to another endpoint, whose own limits may
// let it through.
type RejectedError interface {
	error
	Rejected() bool
}

// NotSent reports whether any error in err's tree says that the request never
// reached the server.
func NotSent(err error) bool {
	var e NotSentError
	return errors.As(err, &e) && e.NotSent()
}

// Rejected reports whether any error in err's tree says that a layer of
// this process rejected the call by policy, so that it must not be retried.
// Unlike NotSent and Replayable, it looks past an error whose Rejected
// reports false, so that a wrapper (a failover layer's "no endpoint left")
// does not hide the verdict of the error it wraps.
func Rejected(err error) bool {
	if err == nil {
		return false
	}
	if e, ok := err.(RejectedError); ok && e.Rejected() {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return Rejected(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if Rejected(e) {
				return true
			}
		}
	}
	return false
}

// Replayable reports whether any error in err's tree says that the failed
// attempt may be repeated because the caller has seen nothing of it.
func Replayable(err error) bool {
	var e ReplayableError
	return errors.As(err, &e) && e.Replayable()
}

// ErrFirstTokenTimeout and ErrTokenIntervalTimeout are the stall sentinels
// shared by every streaming transport: sse's Watchdog and ws's response
// watchdog both return errors matching them with errors.Is, so a caller
// handles a stalled stream alike whichever transport carried it, and neither
// package imports the other.
var (
	// ErrFirstTokenTimeout means that no content token (or response event)
	// arrived within the first-token timeout.
	ErrFirstTokenTimeout = errors.New("no first token in time")

	// ErrTokenIntervalTimeout means that a stream stopped producing content
	// tokens (or response events) for longer than the interval timeout;
	// keep-alive pings and comments do not count.
	ErrTokenIntervalTimeout = errors.New("stream stalled between tokens")
)
