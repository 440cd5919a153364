package ratelimit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBodyScannerEstimate(t *testing.T) {
	prompt := strings.Repeat("abcd", 100) // 400 bytes: 100 tokens
	tests := []struct {
		name string
		body string
		want int64
	}{
		{"empty", ``, 0},
		{"max_tokens", `{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"` + prompt + `"}]}`, 102 + 50}, // ("m" + "user" + 400 bytes) / 4, rounded up
		{"max_completion_tokens", `{"max_completion_tokens": 70}`, 70},
		{"max_output_tokens", `{"input":"abcd","max_output_tokens":9}`, 1 + 9},
		{"default", `{"messages":[{"content":"` + prompt + `"}]}`, 100 + 1024},
		{"nested max_tokens ignored", `{"x":{"max_tokens":5}}`, 1024},
		{"fraction", `{"max_tokens":12.7}`, 12},
		{"negative", `{"max_tokens":-5}`, 1024},
		{"null", `{"max_tokens":null}`, 1024},
		{"string value", `{"max_tokens":"80"}`, 1 + 1024},
		{"escaped quote", `{"content":"a\"b","max_tokens":1}`, 1 + 1},
		{"huge", `{"max_tokens":99999999999999999999999999}`, maxTokensCap},
		{"not json", `hello world!`, 3},
		{"array", `[1,2,3]`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s bodyScanner
			s.write([]byte(tt.body))
			assert.Equal(t, tt.want, s.tokens(1024))
			// Fed byte by byte, the answer is the same.
			var b bodyScanner
			for i := range len(tt.body) {
				b.write([]byte{tt.body[i]})
			}
			assert.Equal(t, tt.want, b.tokens(1024))
			slow := bodyScanner{bytewise: true}
			slow.write([]byte(tt.body))
			assert.Equal(t, tt.want, slow.tokens(1024))
		})
	}
}

func TestUsageScanner(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		want  int64
		found bool
	}{
		{"openai json", `{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, 15, true},
		{"anthropic json", `{"content":[{"text":"hi"}],"usage":{"input_tokens":7,"cache_read_input_tokens":100,"output_tokens":3}}`, 10, true},
		{"openai stream", "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":16,\"total_tokens\":20}}\n\ndata: [DONE]\n\n", 20, true},
		{"anthropic stream", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n", 40, true},
		{"in a string", `{"content":"the \"usage\": {\"total_tokens\": 99} is fake"}`, 0, false},
		{"none", `{"id":"x"}`, 0, false},
		{"null", `{"usage":null}`, 0, false},
		{"broken", `{"usage":{"total_tokens":"x"}}`, 0, false},
		{"nested braces", `{"usage":{"total_tokens":8,"details":{"cached":{"a":1}}}}`, 8, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(tt.body) + 1, 1, 3, 7} {
				var s usageScanner
				for p := tt.body; len(p) > 0; {
					n := min(chunk, len(p))
					s.write([]byte(p[:n]))
					p = p[n:]
				}
				assert.Equal(t, tt.want, s.usage.total(), "chunk %d", chunk)
				assert.Equal(t, tt.found, s.usage.total() > 0, "chunk %d", chunk)
			}
		})
	}
}

// feedRandom writes data to w in random pieces.
func feedRandom(r *rand.Rand, data []byte, w func([]byte)) {
	for len(data) > 0 {
		n := 1 + r.IntN(len(data))
		w(data[:n])
		data = data[n:]
	}
}

func FuzzBodyScanner(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"hello"}]}`), uint64(1))
	f.Add([]byte(`{"max_output_tokens":1e9,"x":[{"y":"\"\\"}]}`), uint64(2))
	f.Add([]byte(`[[[[{"a":`), uint64(3))
	f.Add([]byte("\xff\xfe{\"max_tokens\":-0}"), uint64(4))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		var whole, pieces bodyScanner
		whole.write(data)
		feedRandom(rand.New(rand.NewPCG(seed, 0)), data, pieces.write)
		got := whole.tokens(1024)
		if got < 0 || got > int64(len(data))/4+1+maxTokensCap {
			t.Fatalf("estimate %d out of range for %d bytes", got, len(data))
		}
		if p := pieces.tokens(1024); p != got {
			t.Fatalf("pieces %d, whole %d", p, got)
		}
		// Skipping through strings changes nothing.
		slow := bodyScanner{bytewise: true}
		slow.write(data)
		if w := slow.tokens(1024); w != got {
			t.Fatalf("byte by byte %d, skipping %d", w, got)
		}
	})
}

func FuzzUsageScanner(f *testing.F) {
	f.Add([]byte(`{"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`), uint64(1))
	f.Add([]byte("data: {\"usage\":{\"input_tokens\":3}}\n\ndata: {\"usage\" : {\"output_tokens\":9}}\n\n"), uint64(2))
	f.Add([]byte(`"usage":{"a":"}\"{"}`), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		var whole, pieces usageScanner
		whole.write(data)
		feedRandom(rand.New(rand.NewPCG(seed, 0)), data, pieces.write)
		if whole.usage != pieces.usage {
			t.Fatalf("pieces %+v, whole %+v", pieces.usage, whole.usage)
		}
		if u := whole.usage.total(); u < 0 || u > 3*maxTokensCap {
			t.Fatalf("usage %d out of range", u)
		}
	})
}

// FuzzParseUsage checks the allocation-free usage parser against
// encoding/json on the objects both can read.
func FuzzParseUsage(f *testing.F) {
	f.Add([]byte(`{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0}}`))
	f.Add([]byte(`{"input_tokens":7,"cache_read_input_tokens":100,"output_tokens":3,"server_tool_use":null,"x":[1,{"a":"}"}]}`))
	f.Add([]byte(`{ "total_tokens" : 8 , "total_tokens": 9 }`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := parseUsage(data)
		var want usage
		if bytes.IndexByte(data, '\\') >= 0 || json.Unmarshal(data, &want) != nil {
			return // escapes in keys, or not a usage object: only "no panic" holds
		}
		for _, v := range []int64{want.PromptTokens, want.CompletionTokens, want.TotalTokens, want.InputTokens, want.OutputTokens} {
			if v < 0 || v >= maxTokensCap {
				return
			}
		}
		if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
			return
		}
		if !ok || got != want {
			t.Fatalf("parseUsage = %+v, %v; encoding/json = %+v", got, ok, want)
		}
	})
}

// BenchmarkBodyScanner is the estimate's cost on a chat request with a
// 16 KiB prompt, skipping through strings and byte by byte.
func BenchmarkBodyScanner(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","max_tokens":256,"messages":[{"role":"system","content":"` +
		strings.Repeat("You are a helpful assistant. ", 560) + `"},{"role":"user","content":"Summarise the above."}]}`)
	for _, bytewise := range []bool{false, true} {
		name := "skip"
		if bytewise {
			name = "bytewise"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				s := bodyScanner{bytewise: bytewise}
				s.write(body)
				_ = s.tokens(1024)
			}
		})
	}
}
