package sse

import (
	"errors"
	"fmt"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

var (
	// ErrFirstTokenTimeout means that no content token arrived within the
	// first-token timeout of the request's start. The attempt was cancelled
	// before the caller saw any of it, so the error is replayable.
	ErrFirstTokenTimeout = roundtripper.ErrFirstTokenTimeout

	// ErrTokenIntervalTimeout means that a stream stopped producing content
	// tokens for longer than the token-interval timeout; pings and comments
	// do not count. The request was cancelled.
	//
	// Both stall sentinels are roundtripper's, shared with the ws package,
	// so that a caller handles a stalled stream alike whichever transport
	// carried it.
	ErrTokenIntervalTimeout = roundtripper.ErrTokenIntervalTimeout

	// ErrTruncated means that a stream of a known dialect ended cleanly but
	// without its terminal event ("data: [DONE]", message_stop,
	// response.completed / response.incomplete / response.failed), so the
	// caller has an incomplete answer, not a finished one.
	ErrTruncated = errors.New("sse: stream ended without its terminal event")

	// ErrErrorEvent means that the server sent an error event in the stream
	// (Anthropic's "event: error", an OpenAI error object). The StreamError
	// carries its type and message.
	ErrErrorEvent = errors.New("sse: server sent an error event")

	// ErrStreamCut means that the stream broke off: the connection was
	// reset or closed mid-body, or an HTTP/2 stream was reset or its
	// connection sent GOAWAY. The StreamError unwraps to the read error too.
	ErrStreamCut = errors.New("sse: stream cut by the server")
)

// StreamError is the error a watched stream fails with. It matches one of
// ErrFirstTokenTimeout, ErrTokenIntervalTimeout, ErrTruncated, ErrErrorEvent
// or ErrStreamCut with errors.Is, and the underlying read error, if any.
//
// An error from before the first content token is returned by RoundTrip and
// says Replayable() == true: the caller has seen nothing of the attempt, so a
// retry decorator outside the watchdog may repeat it. The server may still
// bill the abandoned attempt. An error after the first token is returned by
// the body's Read and is not replayable: the caller has part of the answer.
type StreamError struct {
	Err    error         // the sentinel saying what happened
	Cause  error         // the read error behind ErrStreamCut, or nil
	Host   string        // the request's host
	Tokens int           // content tokens seen before the failure
	Waited time.Duration // for timeouts: how long the watchdog waited

	// ErrorType and ErrorMessage are the type and message of the error
	// event behind ErrErrorEvent, such as "overloaded_error", when the event
	// carried them.
	ErrorType, ErrorMessage string

	replayable bool // the caller has seen nothing of the attempt
}

// Error describes what happened in plain words; it never includes headers.
func (e *StreamError) Error() string {
	var detail string
	switch {
	case e.Err == ErrErrorEvent && e.ErrorType != "":
		detail = fmt.Sprintf(" (%s: %s)", e.ErrorType, e.ErrorMessage)
	case e.Cause != nil:
		detail = ": " + e.Cause.Error()
	case e.Waited > 0:
		detail = fmt.Sprintf(" (waited %v)", e.Waited.Round(time.Millisecond))
	}
	when := "before the first token"
	if e.Tokens > 0 {
		when = fmt.Sprintf("after %d tokens", e.Tokens)
	}
	return fmt.Sprintf("%v: %s %s%s", e.Err, e.Host, when, detail)
}

// Unwrap returns the sentinel and the cause.
func (e *StreamError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// Replayable reports whether the attempt failed before the caller saw any of
// it (see roundtripper.ReplayableError).
func (e *StreamError) Replayable() bool { return e.replayable }
