package ws

import (
	"context"
	"encoding/json"
	"fmt"
)

// EventType returns the top-level "type" field of a JSON event, such as
// "response.output_text.delta", or "" when data is not a JSON object or has
// no string "type". It reads only as far as the field, without allocating
// unless the value holds escapes.
func EventType(data []byte) string {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return ""
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != '"' {
			return ""
		}
		ks := i + 1
		ke, esc := scanString(data, i)
		if ke < 0 {
			return ""
		}
		key := data[ks:ke]
		i = skipSpace(data, ke+1)
		if i >= len(data) || data[i] != ':' {
			return ""
		}
		i = skipSpace(data, i+1)
		if !esc && string(key) == "type" {
			if i >= len(data) || data[i] != '"' {
				return ""
			}
			ve, vesc := scanString(data, i)
			if ve < 0 {
				return ""
			}
			if !vesc {
				return string(data[i+1 : ve])
			}
			var s string
			if json.Unmarshal(data[i:ve+1], &s) != nil {
				return ""
			}
			return s
		}
		i = skipValue(data, i)
		if i < 0 {
			return ""
		}
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != ',' {
			return ""
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index of the closing quote of the string starting
// at b[i] == '"' (or -1) and whether the string needs decoding: escapes or
// non-ASCII bytes (which encoding/json checks for valid UTF-8).
func scanString(b []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '\\':
			esc = true
			j++
		case c == '"':
			return j, esc
		case c >= 0x80:
			esc = true
		}
	}
	return -1, esc
}

// skipValue returns the index just past the JSON value starting at b[i],
// or -1. It checks nesting, not full validity: good enough to step over
// fields on the way to "type".
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		e, _ := scanString(b, i)
		if e < 0 {
			return -1
		}
		return e + 1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, _ := scanString(b, j)
				if e < 0 {
					return -1
				}
				j = e
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// ReadJSON reads the next message, decodes it into v (which may be nil) and
// returns its event type. A binary message or one that is not JSON is an
// error, after which the Conn can still be read.
func (c *Conn) ReadJSON(ctx context.Context, v any) (typ string, err error) {
	mt, data, err := c.Read(ctx)
	if err != nil {
		return "", err
	}
	if mt != MessageText {
		return "", fmt.Errorf("ws: %s: ReadJSON got a binary message of %d bytes", c.host, len(data))
	}
	typ = EventType(data)
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			return typ, fmt.Errorf("ws: %s: decoding %q event: %w", c.host, typ, err)
		}
	}
	return typ, nil
}

// ReadEvent reads the next message and returns its event type with it.
func (c *Conn) ReadEvent(ctx context.Context) (typ string, data []byte, err error) {
	mt, data, err := c.Read(ctx)
	if err != nil {
		return "", nil, err
	}
	if mt == MessageText {
		typ = EventType(data)
	}
	return typ, data, nil
}

// WriteJSON encodes v and writes it as one text message. Its "type" field
// decides, as for Write, whether the response watchdog starts.
func (c *Conn) WriteJSON(ctx context.Context, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ws: %s: encoding event: %w", c.host, err)
	}
	return c.Write(ctx, MessageText, data)
}
