package ratelimit

import "bytes"

// bodyScanner estimates the token cost of a JSON request body fed to it in
// pieces of any size, so a body is never held in memory for the estimate.
// It is a tolerant tokenizer, not a validator: on input that is not JSON it
// still ends with counts, and it never fails.
//
// It counts the bytes of every string value (keys and the JSON syntax
// around them are not prompt text) and reads the top-level max_tokens,
// max_completion_tokens and max_output_tokens. Bytes rather than characters:
// for non-Latin scripts that errs on the safe side, as a script of 3-byte
// characters costs about a token per character.
type bodyScanner struct {
	total     int64 // bytes seen
	textBytes int64 // bytes inside string values
	maxOut    int64 // the largest max_*tokens seen at the top level
	hasMaxOut bool
	notObject bool // the first significant byte was not '{'
	started   bool

	depth    int    // nesting of objects and arrays
	objects  uint64 // bit i set: level i+1 is an object (levels past 64 count as arrays)
	inString bool
	escaped  bool
	isKey    bool // the string being read is an object key
	wantKey  bool // the next string in this object is a key

	key    [24]byte // the current top-level key, when short enough to matter
	keyLen int      // -1: longer than key
	field  int      // what the current top-level value is: fieldNone or fieldMaxTokens
	num    int64    // the number being read for fieldMaxTokens
	inNum  bool

	bytewise bool // no skipping through strings (tests compare both ways)
}

// plainRun returns the length of the run of b before its first quote or
// backslash: string content with nothing to interpret.
func plainRun(b []byte) int {
	q := bytes.IndexByte(b, '"')
	if q < 0 {
		q = len(b)
	}
	if k := bytes.IndexByte(b[:q], '\\'); k >= 0 {
		return k
	}
	return q
}

const (
	fieldNone = iota
	fieldMaxTokens
)

// maxTokensCap bounds a parsed max_tokens so sums cannot overflow.
const maxTokensCap = 1 << 40

func (s *bodyScanner) inObject() bool {
	return s.depth > 0 && s.depth <= 64 && s.objects&(1<<(s.depth-1)) != 0
}

// Write implements io.Writer for io.WriterTo bodies; it never fails.
func (s *bodyScanner) Write(p []byte) (int, error) {
	s.write(p)
	return len(p), nil
}

func (s *bodyScanner) write(p []byte) {
	s.total += int64(len(p))
	for i := 0; i < len(p); i++ {
		if s.inString && !s.escaped && !s.bytewise && !(s.isKey && s.depth == 1 && s.keyLen >= 0) {
			// Inside a string that is not a top-level key being read:
			// jump to its next quote or backslash. Prompt text is most
			// of a body, and this reads it at memchr speed instead of a
			// branch per byte.
			j := plainRun(p[i:])
			if !s.isKey {
				s.textBytes += int64(j)
			}
			if i += j; i == len(p) {
				break
			}
		}
		c := p[i]
		if s.inString {
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.inString = false
				if s.isKey && s.depth == 1 {
					s.field = fieldNone
					if s.keyLen >= 0 {
						switch string(s.key[:s.keyLen]) {
						case "max_tokens", "max_completion_tokens", "max_output_tokens":
							s.field = fieldMaxTokens
						}
					}
				}
				continue
			}
			if s.isKey {
				if s.depth == 1 && s.keyLen >= 0 {
					if s.keyLen < len(s.key) {
						s.key[s.keyLen] = c
						s.keyLen++
					} else {
						s.keyLen = -1
					}
				}
			} else {
				s.textBytes++
			}
			continue
		}
		if s.inNum {
			if c >= '0' && c <= '9' {
				if s.num < maxTokensCap {
					s.num = s.num*10 + int64(c-'0')
				}
				continue
			}
			s.endNumber()
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		if !s.started {
			s.started = true
			s.notObject = c != '{'
		}
		switch c {
		case '"':
			s.inString = true
			s.isKey = s.wantKey && s.inObject()
			s.wantKey = false
			if s.isKey && s.depth == 1 {
				s.keyLen = 0
			}
		case '{', '[':
			if s.depth < 64 && c == '{' {
				s.objects |= 1 << s.depth
			} else if s.depth < 64 {
				s.objects &^= 1 << s.depth
			}
			s.depth++
			s.wantKey = c == '{'
		case '}', ']':
			if s.depth > 0 {
				s.depth--
			}
			s.wantKey = false
			if s.depth <= 1 {
				s.field = fieldNone
			}
		case ',':
			s.wantKey = s.inObject()
			if s.depth == 1 {
				s.field = fieldNone
			}
		case ':':
			s.wantKey = false
		default:
			if c >= '0' && c <= '9' && s.depth == 1 && s.field == fieldMaxTokens {
				s.inNum = true
				s.num = int64(c - '0')
			} else if s.depth == 1 {
				// A fraction, an exponent, a sign or a literal: the
				// number (if any) ends here; max_tokens is never negative.
				s.field = fieldNone
			}
		}
	}
}

func (s *bodyScanner) endNumber() {
	s.inNum = false
	if s.field == fieldMaxTokens {
		s.maxOut = max(s.maxOut, min(s.num, maxTokensCap))
		s.hasMaxOut = true
		s.field = fieldNone
	}
}

// tokens returns the estimate: prompt bytes / 4, rounded up, plus the
// output limit the body names or defaultOut when it names none. A body that
// is not a JSON object costs its length / 4 and no output.
func (s *bodyScanner) tokens(defaultOut int64) int64 {
	if s.inNum {
		s.endNumber()
	}
	if s.total == 0 {
		return 0
	}
	if s.notObject {
		return (s.total + 3) / 4
	}
	out := defaultOut
	if s.hasMaxOut {
		out = s.maxOut
	}
	return (s.textBytes+3)/4 + out
}
