package sse

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScannerClassify(t *testing.T) {
	chunk := func(delta string) string {
		return `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":` + delta + `,"finish_reason":null}]}` + "\n\n"
	}
	tests := []struct {
		name     string
		in       string
		tokens   int
		terminal bool
		dialect  dialect
		errEvent bool
	}{
		{"chat role only", chunk(`{"role":"assistant","content":"","refusal":null}`), 0, false, dialectChat, false},
		{"chat content", chunk(`{"content":"Hi"}`), 1, false, dialectChat, false},
		{"chat content spaced", `data: {"choices": [{"delta": {"content" : "Hi"}}]}` + "\n\n", 1, false, dialectChat, false},
		{"chat null content", chunk(`{"content":null}`), 0, false, dialectChat, false},
		{"chat tool call", chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]}`), 1, false, dialectChat, false},
		{"chat reasoning_content", chunk(`{"reasoning_content":"hmm"}`), 1, false, dialectChat, false},
		{"chat reasoning", chunk(`{"reasoning":"hmm"}`), 1, false, dialectChat, false},
		{"chat refusal", chunk(`{"refusal":"no"}`), 1, false, dialectChat, false},
		{"chat finish", chunk(`{}`), 0, false, dialectChat, false},
		{"chat usage", `data: {"id":"c1","choices":[],"usage":{"total_tokens":3}}` + "\n\n", 0, false, dialectChat, false},
		{"chat escaped key in text", chunk(`{"content":"\"content\":\"x"}`), 1, false, dialectChat, false},
		{"azure filter results first", `data: {"choices":[{"content_filter_results":{"hate":{"filtered":false}},"delta":{"content":"x"}}]}` + "\n\n", 1, false, dialectChat, false},
		{"done", "data: [DONE]\n\n", 0, true, dialectChat, false},
		{"chat error object", `data: {"error":{"message":"boom","type":"server_error"}}` + "\n\n", 0, false, dialectUnknown, true},
		{"anthropic envelope", "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\"}\n\n", 0, false, dialectAnthropic, false},
		{"anthropic ping", "event: ping\ndata: {\"type\": \"ping\"}\n\n", 0, false, dialectUnknown, false},
		{"anthropic text", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n", 1, false, dialectAnthropic, false},
		{"anthropic thinking", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"x\"}}\n\n", 1, false, dialectAnthropic, false},
		{"anthropic json", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n", 1, false, dialectAnthropic, false},
		{"anthropic unnamed", "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n", 1, false, dialectAnthropic, false},
		{"anthropic stop", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", 0, true, dialectAnthropic, false},
		{"anthropic error", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", 0, false, dialectUnknown, true},
		{"responses envelope", "event: response.created\ndata: {\"type\":\"response.created\"}\n\n", 0, false, dialectResponses, false},
		{"responses text", "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"x\"}\n\n", 1, false, dialectResponses, false},
		{"responses reasoning", "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"x\"}\n\n", 1, false, dialectResponses, false},
		{"responses args", "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{\"}\n\n", 1, false, dialectResponses, false},
		{"responses completed", "event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n", 0, true, dialectResponses, false},
		{"responses incomplete", "data: {\"type\":\"response.incomplete\"}\n\n", 0, true, dialectResponses, false},
		{"responses failed", "event: response.failed\ndata: {}\n\n", 0, true, dialectResponses, false},
		{"unknown data", "data: hello\n\n", 1, false, dialectUnknown, false},
		{"empty data", "data:\n\n", 0, false, dialectUnknown, false},
		{"comment", ": keep-alive\n\n", 0, false, dialectUnknown, false},
		{"no data", "event: x\nid: 1\n\n", 0, false, dialectUnknown, false},
		{"bom", "\xEF\xBB\xBFdata: hello\n\n", 1, false, dialectUnknown, false},
		{"crlf", "data: hello\r\n\r\n", 1, false, dialectUnknown, false},
		{"cr", "data: hello\r\r", 1, false, dialectUnknown, false},
		{"long chat line counts", chunk(`{"x":"` + strings.Repeat("a", 3000) + `","content":null}`), 1, false, dialectChat, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{len(tt.in), 1, 7} {
				s := &scanner{keepAlive: []string{"ping"}}
				for in := []byte(tt.in); len(in) > 0; {
					n := min(size, len(in))
					s.feed(in[:n])
					in = in[n:]
				}
				assert.Equal(t, tt.tokens, s.tokens, "tokens")
				assert.Equal(t, tt.terminal, s.terminal, "terminal")
				assert.Equal(t, tt.dialect, s.dialect, "dialect")
				assert.Equal(t, tt.errEvent, s.errEvent != nil, "error event")
			}
		})
	}
}

func TestScannerErrorEventDetails(t *testing.T) {
	s := &scanner{}
	s.feed([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"))
	require.NotNil(t, s.errEvent)
	assert.Equal(t, "overloaded_error", s.errEvent.ErrorType)
	assert.Equal(t, "Overloaded", s.errEvent.ErrorMessage)
}

// FuzzScanner feeds the watchdog's scanner arbitrary streams in arbitrary
// pieces: it must not panic, must keep within its bounds, and must classify
// the same whatever the piece sizes.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\ndata: [DONE]\n\n"), []byte{1, 3})
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\r\n\r\n"), []byte{5})
	f.Add([]byte("\xEF\xBB\xBFevent: error\rdata: {\"error\":{}}\r\r: c\n"), []byte{2, 1})
	f.Add([]byte("data: "+strings.Repeat("x", 2000)+"\n\n"), []byte{100})
	f.Fuzz(func(t *testing.T, in, sizes []byte) {
		type result struct {
			tokens, events  int
			terminal, errEv bool
			dialect         dialect
		}
		run := func(sizes []byte) result {
			var events int
			s := &scanner{keepAlive: []string{"ping"}, onEvent: func(bool) { events++ }}
			rest := bytes.Clone(in)
			for i := 0; len(rest) > 0; i++ {
				n := len(rest)
				if len(sizes) > 0 {
					n = max(1, min(int(sizes[i%len(sizes)]), len(rest)))
				}
				s.feed(rest[:n])
				rest = rest[n:]
				require.LessOrEqual(t, len(s.partial), prefixCap+16)
				require.LessOrEqual(t, len(s.data), prefixCap)
			}
			return result{s.tokens, events, s.terminal, s.errEvent != nil, s.dialect}
		}
		require.Equal(t, run(nil), run(sizes))
	})
}

// BenchmarkScanner measures what the watchdog spends per event on following
// and classifying a stream, fed in 4 KiB reads.
func BenchmarkScanner(b *testing.B) {
	for _, s := range []struct{ name, in string }{
		{"openai", benchChat(1000)},
		{"anthropic", benchAnthropic(1000)},
	} {
		b.Run(s.name, func(b *testing.B) {
			in := []byte(s.in)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			sc := &scanner{keepAlive: []string{"ping"}}
			for b.Loop() {
				for p := in; len(p) > 0; {
					n := min(4096, len(p))
					sc.feed(p[:n])
					p = p[n:]
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
		})
	}
}

func benchChat(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{"content":" token%d"},"logprobs":null,"finish_reason":null}]}`+"\n\n", i)
	}
	return b.String()
}

func benchAnthropic(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" token%d\"}}\n\n", i)
	}
	return b.String()
}

func TestStreamFlag(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"model":"m","stream":true}`, true},
		{`{"stream" : true, "x":1}`, true},
		{`{"stream":false}`, false},
		{`{"messages":[{"content":"\"stream\": true"}]}`, false},
		{`{"stream_options":{"include_usage":true},"stream":true}`, true},
		{`{"model":"m"}`, false},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 3, 5, 1000} {
			f := &streamFlag{}
			for p := []byte(tt.in); len(p) > 0; {
				n := min(size, len(p))
				_, _ = f.Write(p[:n])
				p = p[n:]
			}
			assert.Equal(t, tt.want, f.found, "%s in writes of %d", tt.in, size)
		}
	}
}
