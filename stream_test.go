package llmhttp

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsStreaming(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	tests := []struct {
		name   string
		body   string
		accept string
		want   bool
	}{
		{"no body", "", "", false},
		{"accept header", "", "text/event-stream", true},
		{"stream true", `{"model":"m","stream":true}`, "", true},
		{"stream spaced", "{\"stream\" :\n\ttrue}", "", true},
		{"stream false", `{"model":"m","stream":false}`, "", false},
		{"no flag", `{"model":"m"}`, "", false},
		{"after a long prompt", `{"messages":[{"content":"` + long + `"}],"stream":true}`, "", true},
		{"word in content", `{"messages":[{"content":"stream"}]}`, "", false},
		{"stream_options only", `{"stream_options":{"include_usage":true}}`, "", false},
		{"truncated", `{"stream":tr`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/v1/chat/completions", body)
			require.NoError(t, err)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			assert.Equal(t, tt.want, isStreaming(req))
			if tt.body != "" { // the body the transport sends is untouched
				got, err := io.ReadAll(req.Body)
				require.NoError(t, err)
				assert.Equal(t, tt.body, string(got))
			}
		})
	}
}

func TestScanStreamFlagByteByByte(t *testing.T) {
	for _, s := range []string{`{"a":1,"stream":true}`, `{"stream"  :  true}`} {
		assert.True(t, scanStreamFlag(iotest.OneByteReader(strings.NewReader(s))), s)
		assert.True(t, scanStreamFlag(iotest.HalfReader(strings.NewReader(strings.Repeat(" ", 40000)+s))), s)
	}
	assert.False(t, scanStreamFlag(iotest.OneByteReader(strings.NewReader(`{"stream":false}`))))
	for _, s := range []string{`{"a":1,"stream":true}`, `{"stream"  :  true}`} {
		for n := 1; n <= len(s); n++ {
			assert.True(t, writeStreamFlag([]byte(s), n), "%s in pieces of %d", s, n)
		}
		assert.True(t, writeStreamFlag([]byte(strings.Repeat(" ", 40000)+s), 1000), s)
	}
	assert.False(t, writeStreamFlag([]byte(`{"stream":false}`), 3))
}

func FuzzScanStreamFlag(f *testing.F) {
	for _, s := range []string{`{"stream":true}`, `{"stream": false}`, `"stream"`, `"stream":`, `{"x":"\"stream\":true"}`} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		whole := scanStreamFlag(bytes.NewReader(data))
		// Whatever the read sizes, the answer is the same.
		pieces := scanStreamFlag(&chunkReader{b: data, n: int(chunk%17) + 1})
		if whole != pieces {
			t.Fatalf("%q: whole %v, in pieces of %d %v", data, whole, int(chunk%17)+1, pieces)
		}
		// Written in place (an in-memory body's WriteTo), whole or in pieces.
		for _, n := range []int{len(data), int(chunk%17) + 1} {
			if got := writeStreamFlag(data, n); got != whole {
				t.Fatalf("%q: read %v, written in pieces of %d %v", data, whole, n, got)
			}
		}
	})
}

// writeStreamFlag writes b to a streamWriter in pieces of n bytes.
func writeStreamFlag(b []byte, n int) bool {
	var w streamWriter
	for len(b) > 0 {
		k := max(1, min(n, len(b)))
		if _, err := w.Write(b[:k]); err != nil {
			break
		}
		b = b[k:]
	}
	return w.found
}

type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}

func BenchmarkIsStreaming(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one short sentence, please."}],"max_tokens":64}`)
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/v1/chat/completions", bytes.NewReader(body))
	b.ReportAllocs()
	for b.Loop() {
		if isStreaming(req) {
			b.Fatal("not a stream")
		}
	}
}
