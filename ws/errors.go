package ws

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

var (
	// ErrClosed is returned by calls on a Conn after Close.
	ErrClosed = errors.New("ws: connection closed")

	// ErrConnectionLost is matched by every *LostError: the connection a
	// Read or Write was using is gone.
	ErrConnectionLost = errors.New("ws: connection lost")

	// ErrPingTimeout means that the peer answered no ping within
	// PingTimeout and sent nothing else either: it is dead or unreachable.
	ErrPingTimeout = errors.New("ws: no pong in time")

	// ErrMessageTooBig is matched by *MessageTooBigError.
	ErrMessageTooBig = errors.New("ws: message too big")

	// ErrSessionMaxAge is the cause given to OnNewSession when a session
	// was rolled over because it reached MaxSessionAge.
	ErrSessionMaxAge = errors.New("ws: session reached its maximum age")
)

// HandshakeError is returned by Dial and Reconnect when the server answered
// the opening handshake with something other than 101 Switching Protocols.
// It carries the status and the start of the server's body; its message
// names the status and the API error code, never a request header.
type HandshakeError struct {
	Host       string // host:port of the URL
	StatusCode int    // e.g. 401
	Body       []byte // the first KiB of the server's answer
	Code       string // the API error code or type from Body ("invalid_api_key"), when there is one
	Message    string // the API error message from Body, when there is one
}

// Error says plainly what the status means.
func (e *HandshakeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ws: %s: handshake refused: %d %s", e.Host, e.StatusCode, http.StatusText(e.StatusCode))
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		b.WriteString(" (the server did not accept the credentials: check the API key)")
	case e.StatusCode == http.StatusForbidden:
		b.WriteString(" (the credentials lack access to this endpoint or model)")
	case e.StatusCode == http.StatusTooManyRequests:
		b.WriteString(" (rate limited)")
	case e.StatusCode >= 500:
		b.WriteString(" (server error)")
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	return b.String()
}

// Temporary reports whether dialling again later may succeed: 408, 429 and
// 5xx. Reconnect gives up at once on any other refusal.
func (e *HandshakeError) Temporary() bool {
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// NotSent reports true: no message reached the server.
func (e *HandshakeError) NotSent() bool { return true }

func newHandshakeError(host string, status int, body []byte) *HandshakeError {
	e := &HandshakeError{Host: host, StatusCode: status, Body: body}
	var v struct {
		Error *struct {
			Code    any    `json:"code"`
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != nil {
		if s, ok := v.Error.Code.(string); ok && s != "" {
			e.Code = s
		} else {
			e.Code = v.Error.Type
		}
		e.Message = v.Error.Message
	}
	return e
}

// DialError is a handshake that failed before the server answered: the
// connection was refused, DNS failed, TLS failed, or HandshakeTimeout
// passed. It unwraps to the cause.
type DialError struct {
	Host string // host:port of the WebSocket URL
	Err  error  // the cause
}

// Error says which host could not be reached and why.
func (e *DialError) Error() string { return "ws: " + e.Host + ": dial: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *DialError) Unwrap() error { return e.Err }

// NotSent reports true: no message reached the server.
func (e *DialError) NotSent() bool { return true }

// LostError is the error of every Read or Write on a connection that is
// gone. It matches ErrConnectionLost and unwraps to the cause: a
// *CloseError, ErrPingTimeout, a *StallError, a *MessageTooBigError or a
// network error.
type LostError struct {
	Host    string // host:port of the WebSocket URL
	Session int    // the Session.ID of the lost connection
	Err     error  // why it was lost
}

// Error names the host and session and says why the connection was lost.
func (e *LostError) Error() string {
	return fmt.Sprintf("ws: %s: connection of session %d lost: %v", e.Host, e.Session, e.Err)
}

// Unwrap returns ErrConnectionLost and the cause.
func (e *LostError) Unwrap() []error { return []error{ErrConnectionLost, e.Err} }

// CloseError is a close frame the server sent, e.g. 1001 when a Realtime
// session reached its maximum age.
type CloseError struct {
	Code   int    // the WebSocket close code (RFC 6455 section 7.4)
	Reason string // the server's close reason; may be empty
}

// Error gives the close code and the server's reason.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("ws: server closed the connection with code %d", e.Code)
	}
	return fmt.Sprintf("ws: server closed the connection with code %d: %s", e.Code, e.Reason)
}

// StallError is the response watchdog's error. It matches
// roundtripper.ErrFirstTokenTimeout (no event after the request) or
// roundtripper.ErrTokenIntervalTimeout (events stopped), as sse's watchdog
// errors do.
type StallError struct {
	Err    error         // one of the two roundtripper sentinels
	Host   string        // host:port
	Events int           // response events received before the stall
	Waited time.Duration // how long the watchdog waited
}

// Error says whether the first event never came or the events stopped, and
// how long the watchdog waited.
func (e *StallError) Error() string {
	if errors.Is(e.Err, roundtripper.ErrFirstTokenTimeout) {
		return fmt.Sprintf("ws: %s: no response event within %v of the request", e.Host, e.Waited)
	}
	return fmt.Sprintf("ws: %s: response stalled: no event for %v after %d events", e.Host, e.Waited, e.Events)
}

// Unwrap returns the sentinel.
func (e *StallError) Unwrap() error { return e.Err }

// MessageTooBigError is a message longer than MaxMessageSize. It matches
// ErrMessageTooBig.
type MessageTooBigError struct {
	Limit int64 // the MaxMessageSize in force, in bytes
}

// Error gives the size limit that was exceeded.
func (e *MessageTooBigError) Error() string {
	return fmt.Sprintf("ws: message larger than the limit of %d bytes", e.Limit)
}

// Unwrap returns ErrMessageTooBig.
func (e *MessageTooBigError) Unwrap() error { return ErrMessageTooBig }

// ReconnectError is returned when every reconnection attempt failed.
type ReconnectError struct {
	Host     string // host:port of the WebSocket URL
	Attempts int    // reconnection attempts made
	Err      error  // the last attempt's error
}

// Error names the host and the number of attempts, and gives the last error.
func (e *ReconnectError) Error() string {
	return fmt.Sprintf("ws: %s: gave up reconnecting after %d attempts: %v", e.Host, e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *ReconnectError) Unwrap() error { return e.Err }
