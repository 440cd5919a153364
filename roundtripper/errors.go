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

// NotSent reports whether any error in err's tree says that the request never
// reached the server.
func NotSent(err error) bool {
	var e NotSentError
	return errors.As(err, &e) && e.NotSent()
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
