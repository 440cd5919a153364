package sse

import (
	"bytes"
	"encoding/json"
)

// The watchdog does not decode JSON per event: it classifies each event from
// its type and a bounded prefix of its data with a few byte searches, which
// is all it needs to tell content from envelopes, pings and the end.

// prefixCap bounds how much of an event's data the scanner keeps. Every
// dialect puts what tells content apart near the start of the event; Azure's
// content_filter_results before "delta" is the longest prefix seen, a few
// hundred bytes.
const prefixCap = 1024

// typeCap bounds the event type the scanner keeps; longer types are unknown.
const typeCap = 64

type dialect uint8

const (
	dialectUnknown   dialect = iota
	dialectChat              // OpenAI chat completions and compatible servers
	dialectAnthropic         // Anthropic messages
	dialectResponses         // OpenAI Responses
)

type kind uint8

const (
	kindNone      kind = iota // an event without data, or with empty data
	kindEnvelope              // metadata sent around the content
	kindContent               // a content token: text, tool-call arguments, reasoning
	kindKeepAlive             // a ping or a comment
	kindTerminal              // the dialect's last event
	kindError                 // an error event
)

// scanner follows an event stream pushed to it in pieces of any size and
// classifies its events. It keeps only what it needs: the partial line at
// the end of a piece and a prefix of the current event.
type scanner struct {
	keepAlive []string

	partial  []byte // start of a line split across pieces (at most prefixCap+16 bytes)
	long     bool   // the partial line is longer than what partial holds
	skipLF   bool
	started  bool // past a leading BOM
	typ      [typeCap]byte
	typLen   int // -1: too long
	data     []byte
	hasData  bool
	dataLong bool // data was cut at prefixCap

	dialect  dialect
	tokens   int
	terminal bool
	errEvent *StreamError // the first error event, with its type and message
	onEvent  func(content bool)
}

// feed scans p.
func (s *scanner) feed(p []byte) {
	if !s.started {
		if len(s.partial)+len(p) < len(bom) && bytes.HasPrefix(bom, append(s.partial, p...)) {
			s.partial = append(s.partial, p...)
			return
		}
		s.started = true
		if len(s.partial) > 0 {
			joined := append(s.partial, p...)
			s.partial = s.partial[:0]
			s.feedLines(bytes.TrimPrefix(joined, bom))
			return
		}
		p = bytes.TrimPrefix(p, bom)
	}
	s.feedLines(p)
}

func (s *scanner) feedLines(p []byte) {
	if s.skipLF && len(p) > 0 {
		if p[0] == '\n' {
			p = p[1:]
		}
		s.skipLF = false
	}
	// One search for CR per piece: most streams have none, and then each
	// line costs a single IndexByte.
	cr := bytes.IndexByte(p, '\r')
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if cr >= 0 && (i < 0 || cr < i) {
			i = cr
		}
		if i < 0 {
			s.keepPartial(p)
			return
		}
		line := p[:i]
		if p[i] == '\r' {
			switch {
			case i+1 == len(p):
				s.skipLF = true
			case p[i+1] == '\n':
				i++
			}
		}
		p = p[i+1:]
		if cr >= 0 {
			if cr -= i + 1; cr < 0 {
				cr = bytes.IndexByte(p, '\r')
			}
		}
		if len(s.partial) > 0 || s.long {
			s.keepPartial(line)
			line = s.partial
			s.partial = s.partial[:0]
			s.long = false
		}
		s.line(line)
	}
}

func (s *scanner) keepPartial(p []byte) {
	room := prefixCap + 16 - len(s.partial)
	if len(p) > room {
		p = p[:room]
		s.long = true
	}
	s.partial = append(s.partial, p...)
}

func (s *scanner) line(line []byte) {
	if len(line) == 0 {
		s.dispatch()
		return
	}
	if line[0] == ':' {
		if s.onEvent != nil {
			s.onEvent(false)
		}
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if s.hasData {
			s.appendData([]byte{'\n'})
		}
		s.hasData = true
		s.appendData(value)
	case "event":
		if len(value) > typeCap {
			s.typLen = -1
		} else {
			s.typLen = copy(s.typ[:], value)
		}
	}
}

func (s *scanner) appendData(v []byte) {
	if room := prefixCap - len(s.data); len(v) > room {
		v = v[:room]
		s.dataLong = true
	}
	s.data = append(s.data, v...)
}

func (s *scanner) dispatch() {
	if s.hasData {
		k := s.classify()
		switch k {
		case kindContent:
			s.tokens++
		case kindTerminal:
			s.terminal = true
		case kindError:
			if s.errEvent == nil {
				s.errEvent = errorEvent(s.data)
			}
		}
		if s.onEvent != nil {
			s.onEvent(k == kindContent)
		}
	}
	s.typLen, s.hasData, s.dataLong = 0, false, false
	s.data = s.data[:0]
}

var (
	doneBytes    = []byte("[DONE]")
	choicesKey   = []byte(`"choices"`)
	deltaKey     = []byte(`"delta"`)
	contentKeys  = [][]byte{[]byte(`"content"`), []byte(`"reasoning_content"`), []byte(`"reasoning"`), []byte(`"refusal"`)}
	toolCallsKey = []byte(`"tool_calls"`)
	funcCallKey  = []byte(`"function_call"`)
	errorKey     = []byte(`"error"`)
	typeKey      = []byte(`"type"`)
	deltaSuffix  = []byte(".delta")
	responsesPfx = []byte("response.")
)

// classify says what the current event is and learns the stream's dialect.
func (s *scanner) classify() kind {
	data := bytes.TrimSpace(s.data)
	if len(data) == 0 && !s.dataLong {
		return kindNone
	}
	name := s.typ[:max(s.typLen, 0)]
	if len(name) == 0 || string(name) == "message" {
		name = leadingType(data)
	}
	for _, k := range s.keepAlive {
		if string(name) == k {
			return kindKeepAlive
		}
	}
	switch string(name) {
	case "error":
		return kindError
	case "content_block_delta":
		s.dialect = dialectAnthropic
		return kindContent
	case "message_stop":
		s.dialect = dialectAnthropic
		return kindTerminal
	case "message_start", "content_block_start", "content_block_stop", "message_delta":
		s.dialect = dialectAnthropic
		return kindEnvelope
	case "response.completed", "response.incomplete", "response.failed":
		s.dialect = dialectResponses
		return kindTerminal
	}
	if bytes.HasPrefix(name, responsesPfx) {
		s.dialect = dialectResponses
		if bytes.HasSuffix(name, deltaSuffix) {
			return kindContent
		}
		return kindEnvelope
	}
	if bytes.Equal(data, doneBytes) {
		s.dialect = dialectChat
		return kindTerminal
	}
	if len(data) > 0 && data[0] == '{' && keyAt(data[1:], errorKey) {
		return kindError
	}
	if i := bytes.Index(data, choicesKey); i >= 0 {
		s.dialect = dialectChat
		if chatContent(data[i:]) || (s.dataLong && s.typLen == 0) {
			// A chunk cut at the prefix without the keys in view counts:
			// better to wait one event longer than to cut a live stream.
			return kindContent
		}
		return kindEnvelope
	}
	if s.dialect == dialectUnknown || s.dialect == dialectChat {
		return kindContent
	}
	return kindEnvelope
}

// chatContent reports whether an OpenAI chat chunk carries a content delta:
// a non-empty content, reasoning or refusal string, or tool calls. data
// starts at "choices"; the keys are looked for from "delta" on.
func chatContent(data []byte) bool {
	if i := bytes.Index(data, deltaKey); i >= 0 {
		data = data[i+len(deltaKey):]
	}
	for _, key := range contentKeys {
		rest := data
		for {
			i := bytes.Index(rest, key)
			if i < 0 {
				break
			}
			rest = rest[i+len(key):]
			v, ok := afterColon(rest)
			if ok && len(v) >= 2 && v[0] == '"' && v[1] != '"' {
				return true
			}
		}
	}
	for _, key := range [][]byte{toolCallsKey, funcCallKey} {
		if i := bytes.Index(data, key); i >= 0 {
			v, ok := afterColon(data[i+len(key):])
			if ok && len(v) > 0 && (v[0] == '[' || v[0] == '{') && !bytes.HasPrefix(v, []byte("[]")) {
				return true
			}
		}
	}
	return false
}

// afterColon returns what follows a JSON key: the value after the colon and
// any whitespace.
func afterColon(b []byte) ([]byte, bool) {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != ':' {
		return nil, false
	}
	return bytes.TrimLeft(b[1:], " \t\r\n"), true
}

// keyAt reports whether b, after whitespace, starts with key and a colon.
func keyAt(b, key []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	if !bytes.HasPrefix(b, key) {
		return false
	}
	_, ok := afterColon(b[len(key):])
	return ok
}

// leadingType returns the value of a "type" key that opens a JSON object, as
// Anthropic and the Responses API put it first in every event.
func leadingType(data []byte) []byte {
	if len(data) == 0 || data[0] != '{' || !keyAt(data[1:], typeKey) {
		return nil
	}
	i := bytes.Index(data, typeKey)
	v, _ := afterColon(data[i+len(typeKey):])
	if len(v) == 0 || v[0] != '"' {
		return nil
	}
	v = v[1:]
	end := bytes.IndexByte(v, '"')
	if end < 0 || end > typeCap {
		return nil
	}
	return v[:end]
}

// errorEvent builds the error for an error event from its data, taking type
// and message from either dialect's shape when the prefix held them.
func errorEvent(data []byte) *StreamError {
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Code    any    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	e := &StreamError{Err: ErrErrorEvent}
	if json.Unmarshal(data, &body) == nil {
		e.ErrorType, e.ErrorMessage = body.Error.Type, body.Error.Message
		if e.ErrorType == "" && body.Error.Code != nil {
			if c, ok := body.Error.Code.(string); ok {
				e.ErrorType = c
			}
		}
		if e.ErrorMessage == "" {
			e.ErrorMessage = body.Message
		}
	}
	if len(e.ErrorMessage) > 200 {
		e.ErrorMessage = e.ErrorMessage[:200]
	}
	return e
}
