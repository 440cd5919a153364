package testserver

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// FaultHeader is the request header through which a single request asks for a
// fault: its value is a JSON-encoded [Fault] (durations as Go duration strings
// such as "250ms" or as integer nanoseconds; modes as their names, e.g.
// "comments", "mid_stream", or their numbers). It takes precedence over the
// script and Config.Default. json.Marshal of a Fault produces a valid value.
const FaultHeader = "X-Testserver-Fault"

// StallMode says what the server sends while a stream is stalled.
type StallMode int

const (
	// StallSilent sends nothing at all: not a byte reaches the client.
	StallSilent StallMode = iota
	// StallComments sends SSE comment lines (": keep-alive") every StallEvery.
	StallComments
	// StallPings sends the dialect's keep-alive event every StallEvery: an
	// Anthropic "ping" event on /v1/messages; the OpenAI APIs have no ping
	// event, so there it is an SSE comment ": ping".
	StallPings
)

// CloseMode says when the server drops the connection of a request.
type CloseMode int

const (
	// CloseNone: the connection is not dropped.
	CloseNone CloseMode = iota
	// CloseBeforeHeaders drops the connection before any byte of the response.
	CloseBeforeHeaders
	// CloseAfterHeaders sends the status line and headers, then drops the connection.
	CloseAfterHeaders
	// CloseMidStream drops the connection after StallAfter tokens (after the
	// stall, when StallFor is set), or half way through when StallAfter is 0.
	// For a non-streaming answer it drops the connection half way through the body.
	CloseMidStream
)

// Fault is what the server does with one request instead of (or on the way
// to) a normal answer. The zero Fault is a normal answer.
type Fault struct {
	Status          int               // non-zero: answer with this status (and Body) instead of a completion
	Header          map[string]string // extra response headers (e.g. "Retry-After", "retry-after-ms", "x-should-retry"); they override the server's own
	Body            string            // body for Status; default: an API-shaped JSON error. A bare error code such as "insufficient_quota" gives an API-shaped error with that code.
	HeaderDelay     time.Duration     // wait before writing headers
	FirstTokenDelay time.Duration     // after headers, wait before the first token
	StallAfter      int               // >0: after this many tokens, stall
	StallFor        time.Duration     // how long the stall lasts; 0: until the client goes away
	StallMode       StallMode         // StallSilent (no byte), StallComments (": keep-alive" SSE comments), StallPings (dialect ping events)
	StallEvery      time.Duration     // interval of comments/pings while stalled; 0: 1s
	Close           CloseMode         // CloseNone, CloseBeforeHeaders, CloseAfterHeaders, CloseMidStream (after StallAfter tokens, or half way)
	Reset           bool              // with Close: abortive close (TCP RST, SO_LINGER 0) instead of FIN
	Truncate        bool              // end the stream cleanly but without its terminal event ([DONE] / message_stop / response.completed)
	TokensPerSecond float64           // overrides Config.TokensPerSecond for this request
	Reasoning       int               // emit this many reasoning/thinking deltas before the text
	ErrorEvent      bool              // stream an error event (Anthropic overloaded_error / OpenAI error object) instead of tokens
}

func (f *Fault) stallEvery() time.Duration {
	if f.StallEvery <= 0 {
		return time.Second
	}
	return f.StallEvery
}

var stallModeNames = []string{"silent", "comments", "pings"}
var closeModeNames = []string{"none", "before_headers", "after_headers", "mid_stream"}

// String returns the mode's name: "silent", "comments" or "pings".
func (m StallMode) String() string { return modeName(stallModeNames, int(m)) }

// String returns the mode's name: "none", "before_headers", "after_headers" or "mid_stream".
func (m CloseMode) String() string { return modeName(closeModeNames, int(m)) }

func modeName(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return strconv.Itoa(i)
}

// faultJSON is the wire form of a Fault: durations as Go duration strings,
// modes as names. Decoding accepts numbers for both as well.
type faultJSON struct {
	Status          int               `json:"Status,omitempty"`
	Header          map[string]string `json:"Header,omitempty"`
	Body            string            `json:"Body,omitempty"`
	HeaderDelay     json.RawMessage   `json:"HeaderDelay,omitempty"`
	FirstTokenDelay json.RawMessage   `json:"FirstTokenDelay,omitempty"`
	StallAfter      int               `json:"StallAfter,omitempty"`
	StallFor        json.RawMessage   `json:"StallFor,omitempty"`
	StallMode       json.RawMessage   `json:"StallMode,omitempty"`
	StallEvery      json.RawMessage   `json:"StallEvery,omitempty"`
	Close           json.RawMessage   `json:"Close,omitempty"`
	Reset           bool              `json:"Reset,omitempty"`
	Truncate        bool              `json:"Truncate,omitempty"`
	TokensPerSecond float64           `json:"TokensPerSecond,omitempty"`
	Reasoning       int               `json:"Reasoning,omitempty"`
	ErrorEvent      bool              `json:"ErrorEvent,omitempty"`
}

// MarshalJSON encodes the fault as FaultHeader expects it, with durations as
// Go duration strings and modes as names.
func (f Fault) MarshalJSON() ([]byte, error) {
	dur := func(d time.Duration) json.RawMessage {
		if d == 0 {
			return nil
		}
		return json.RawMessage(strconv.Quote(d.String()))
	}
	mode := func(names []string, i int) json.RawMessage {
		if i == 0 {
			return nil
		}
		return json.RawMessage(strconv.Quote(modeName(names, i)))
	}
	return json.Marshal(faultJSON{
		Status: f.Status, Header: f.Header, Body: f.Body,
		HeaderDelay: dur(f.HeaderDelay), FirstTokenDelay: dur(f.FirstTokenDelay),
		StallAfter: f.StallAfter, StallFor: dur(f.StallFor),
		StallMode: mode(stallModeNames, int(f.StallMode)), StallEvery: dur(f.StallEvery),
		Close: mode(closeModeNames, int(f.Close)), Reset: f.Reset, Truncate: f.Truncate,
		TokensPerSecond: f.TokensPerSecond, Reasoning: f.Reasoning, ErrorEvent: f.ErrorEvent,
	})
}

// UnmarshalJSON decodes a fault from the FaultHeader format.
func (f *Fault) UnmarshalJSON(data []byte) error {
	var j faultJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	out := Fault{
		Status: j.Status, Header: j.Header, Body: j.Body, StallAfter: j.StallAfter,
		Reset: j.Reset, Truncate: j.Truncate, TokensPerSecond: j.TokensPerSecond,
		Reasoning: j.Reasoning, ErrorEvent: j.ErrorEvent,
	}
	var err error
	for _, d := range []struct {
		raw json.RawMessage
		dst *time.Duration
		key string
	}{
		{j.HeaderDelay, &out.HeaderDelay, "HeaderDelay"},
		{j.FirstTokenDelay, &out.FirstTokenDelay, "FirstTokenDelay"},
		{j.StallFor, &out.StallFor, "StallFor"},
		{j.StallEvery, &out.StallEvery, "StallEvery"},
	} {
		if *d.dst, err = decodeDuration(d.raw); err != nil {
			return fmt.Errorf("testserver: fault %s: %w", d.key, err)
		}
	}
	var m int
	if m, err = decodeMode(j.StallMode, stallModeNames); err != nil {
		return fmt.Errorf("testserver: fault StallMode: %w", err)
	}
	out.StallMode = StallMode(m)
	if m, err = decodeMode(j.Close, closeModeNames); err != nil {
		return fmt.Errorf("testserver: fault Close: %w", err)
	}
	out.Close = CloseMode(m)
	*f = out
	return nil
}

func decodeDuration(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return time.ParseDuration(s)
	}
	var n int64
	err := json.Unmarshal(raw, &n)
	return time.Duration(n), err
}

func decodeMode(raw json.RawMessage, names []string) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		for i, n := range names {
			if n == s {
				return i, nil
			}
		}
		return 0, fmt.Errorf("unknown mode %q", s)
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	if n < 0 || n >= len(names) {
		return 0, fmt.Errorf("unknown mode %d", n)
	}
	return n, nil
}
