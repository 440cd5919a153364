package testserver

import (
	"strconv"
	"strings"
	"sync"
)

// DefaultTokens is the number of text tokens in a completion whose request
// sets no max_tokens, max_completion_tokens or max_output_tokens.
const DefaultTokens = 16

// DefaultReasoning is the number of reasoning deltas streamed when a request
// asks for reasoning itself (a Responses "reasoning" object or an Anthropic
// "thinking" object of type "enabled") and its fault sets no Reasoning.
const DefaultReasoning = 4

// maxTokens bounds one completion, so that a careless max_tokens cannot make
// the server stream for hours.
const maxTokens = 1 << 16

// cachedTokens tokens of each kind are built once per process; a completion
// of up to this many tokens allocates nothing for its text.
const cachedTokens = 4096

// tokenSet is a deterministic token sequence: token i is prefix+i, preceded by
// a space except the first, so that the joined text reads "t0 t1 t2".
type tokenSet struct {
	prefix string
	once   sync.Once
	text   string // the first cachedTokens tokens joined
	ends   []int  // ends[i] is the length of the text of the first i tokens
}

var (
	textTokens      = &tokenSet{prefix: "t"}
	reasoningTokens = &tokenSet{prefix: "r"}
)

func (ts *tokenSet) init() {
	ts.once.Do(func() {
		var b strings.Builder
		ts.ends = make([]int, cachedTokens+1)
		for i := range cachedTokens {
			ts.appendToken(&b, i)
			ts.ends[i+1] = b.Len()
		}
		ts.text = b.String()
	})
}

func (ts *tokenSet) appendToken(b *strings.Builder, i int) {
	if i > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(ts.prefix)
	b.WriteString(strconv.Itoa(i))
}

// token returns token i; it allocates only beyond cachedTokens.
func (ts *tokenSet) token(i int) string {
	ts.init()
	if i < cachedTokens {
		return ts.text[ts.ends[i]:ts.ends[i+1]]
	}
	var b strings.Builder
	ts.appendToken(&b, i)
	return b.String()
}

// joined returns the first n tokens joined.
func (ts *tokenSet) joined(n int) string {
	ts.init()
	n = max(n, 0)
	if n <= cachedTokens {
		return ts.text[:ts.ends[n]]
	}
	var b strings.Builder
	b.WriteString(ts.text)
	for i := cachedTokens; i < n; i++ {
		ts.appendToken(&b, i)
	}
	return b.String()
}

func (ts *tokenSet) list(n int) []string {
	out := make([]string, max(n, 0))
	for i := range out {
		out[i] = ts.token(i)
	}
	return out
}

// Tokens returns the n text tokens of a completion, in order: "t0", " t1",
// " t2", ... Each streamed text delta carries exactly one of them.
func Tokens(n int) []string { return textTokens.list(n) }

// Text returns the text of a completion of n tokens: Tokens(n) joined,
// "t0 t1 t2 ...".
func Text(n int) string { return textTokens.joined(n) }

// ReasoningTokens returns the n reasoning deltas streamed before the text when
// reasoning is asked for: "r0", " r1", ...
func ReasoningTokens(n int) []string { return reasoningTokens.list(n) }

// ReasoningText returns ReasoningTokens(n) joined.
func ReasoningText(n int) string { return reasoningTokens.joined(n) }
