package ratelimit

import "bytes"

// usageScanner watches a response body as the caller reads it and picks out
// the "usage" objects in it, so the token estimate of a call can be
// corrected without buffering the body: a JSON completion carries one at its
// end; an OpenAI stream with stream_options.include_usage carries it in its
// last chunk; an Anthropic stream carries input tokens in message_start and
// the output count in message_delta; a Responses stream carries it in
// response.completed. Only the usage object itself (at most maxUsageObject
// bytes) is copied; everything else is looked at once by bytes.Index.
//
// Several usage objects merge field by field, keeping the largest value,
// since streams report running totals.
type usageScanner struct {
	state int
	carry [len(usageKey) - 1]byte
	nc    int
	depth int
	inStr bool
	esc   bool
	buf   []byte
	small [256]byte // buf's first storage: usage objects are small

	usage usage
	found bool
}

const (
	usSearch = iota
	usAfterKey
	usAfterColon
	usCapture
)

const usageKey = `"usage"`

// maxUsageObject bounds the copy of one usage object; larger ones (no real
// server sends them) are skipped.
const maxUsageObject = 4 << 10

// usage holds the counters of OpenAI's and Anthropic's usage objects.
type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
}

// total is what the call cost against a tokens-per-minute limit.
func (u usage) total() int64 {
	return max(u.TotalTokens, u.PromptTokens+u.CompletionTokens, u.InputTokens+u.OutputTokens)
}

func (s *usageScanner) write(p []byte) {
	for len(p) > 0 {
		switch s.state {
		case usSearch:
			p = s.search(p)
		case usAfterKey, usAfterColon:
			c := p[0]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				p = p[1:]
				continue
			}
			switch {
			case s.state == usAfterKey && c == ':':
				s.state = usAfterColon
				p = p[1:]
			case s.state == usAfterColon && c == '{':
				s.state, s.depth, s.inStr, s.esc = usCapture, 0, false, false
				if s.buf == nil {
					s.buf = s.small[:0]
				}
				s.buf = s.buf[:0]
			default:
				// "usage" was a value or a null: look for the next one.
				s.state = usSearch
			}
		case usCapture:
			p = s.capture(p)
		}
	}
}

// search looks for usageKey in p, including a match that began in the
// bytes carried over from the previous write, and returns what follows it.
func (s *usageScanner) search(p []byte) []byte {
	if s.nc > 0 {
		var joint [2 * (len(usageKey) - 1)]byte
		n := copy(joint[:], s.carry[:s.nc])
		n += copy(joint[n:], p)
		if i := bytes.Index(joint[:n], []byte(usageKey)); i >= 0 && i < s.nc {
			off := i + len(usageKey) - s.nc
			s.nc = 0
			s.state = usAfterKey
			return p[off:]
		}
	}
	if i := bytes.Index(p, []byte(usageKey)); i >= 0 {
		s.nc = 0
		s.state = usAfterKey
		return p[i+len(usageKey):]
	}
	// Carry the last len(usageKey)-1 bytes of what has been seen.
	if len(p) >= len(s.carry) {
		s.nc = copy(s.carry[:], p[len(p)-len(s.carry):])
	} else {
		var tmp [2 * (len(usageKey) - 1)]byte
		n := copy(tmp[:], s.carry[:s.nc])
		n += copy(tmp[n:], p)
		start := max(0, n-len(s.carry))
		s.nc = copy(s.carry[:], tmp[start:n])
	}
	return nil
}

func (s *usageScanner) capture(p []byte) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case s.inStr && s.esc:
			s.esc = false
		case s.inStr && c == '\\':
			s.esc = true
		case s.inStr && c == '"':
			s.inStr = false
		case s.inStr:
		case c == '"':
			s.inStr = true
		case c == '{':
			s.depth++
		case c == '}':
			s.depth--
		}
		if s.depth <= 0 && c == '}' && !s.inStr {
			s.buf = append(s.buf, p[:i+1]...)
			s.parse()
			s.state = usSearch
			return p[i+1:]
		}
	}
	if len(s.buf)+len(p) > maxUsageObject {
		s.state = usSearch
		s.buf = s.buf[:0]
		return nil
	}
	s.buf = append(s.buf, p...)
	return nil
}

func (s *usageScanner) parse() {
	if len(s.buf) > maxUsageObject {
		return
	}
	u, ok := parseUsage(s.buf)
	if !ok {
		return
	}
	merge := func(dst *int64, v int64) { *dst = max(*dst, min(v, maxTokensCap)) }
	merge(&s.usage.PromptTokens, u.PromptTokens)
	merge(&s.usage.CompletionTokens, u.CompletionTokens)
	merge(&s.usage.TotalTokens, u.TotalTokens)
	merge(&s.usage.InputTokens, u.InputTokens)
	merge(&s.usage.OutputTokens, u.OutputTokens)
}

// parseUsage reads the counters of a usage object: the non-negative
// integers of its top-level keys that usage knows. It does not allocate,
// and does not validate more JSON than it needs; ok is false when the
// object is not one.
func parseUsage(b []byte) (u usage, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return u, false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return u, false
		}
		if b[i] == '}' {
			return u, true
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '"' {
			return u, false
		}
		end := stringEnd(b, i)
		if end < 0 {
			return u, false
		}
		key := b[i+1 : end]
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return u, false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return u, false
		}
		// Keys match case-insensitively, as encoding/json matches them.
		var dst *int64
		switch {
		case bytes.EqualFold(key, []byte("prompt_tokens")):
			dst = &u.PromptTokens
		case bytes.EqualFold(key, []byte("completion_tokens")):
			dst = &u.CompletionTokens
		case bytes.EqualFold(key, []byte("total_tokens")):
			dst = &u.TotalTokens
		case bytes.EqualFold(key, []byte("input_tokens")):
			dst = &u.InputTokens
		case bytes.EqualFold(key, []byte("output_tokens")):
			dst = &u.OutputTokens
		}
		if dst != nil && b[i] >= '0' && b[i] <= '9' {
			var n int64
			for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
				if n < maxTokensCap {
					n = n*10 + int64(b[i]-'0')
				}
			}
			*dst = min(n, maxTokensCap)
			continue
		}
		// Skip any other value: a string, a nested object or array, or a
		// literal, up to the comma or brace that ends it at this level.
		depth := 0
		for ; i < len(b); i++ {
			switch c := b[i]; {
			case c == '"':
				if i = stringEnd(b, i); i < 0 {
					return u, false
				}
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				if depth == 0 {
					goto next
				}
				depth--
			case c == ',' && depth == 0:
				goto next
			}
		}
	next:
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the string that opens
// at b[i], or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}
