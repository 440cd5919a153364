package sse_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/llmhttp/llmhttp/sse"
)

// BenchmarkReader decodes OpenAI- and Anthropic-shaped streams of 1,000
// content deltas. One op is one whole stream; allocs/op divided by the event
// count is allocations per event.
func BenchmarkReader(b *testing.B) {
	for _, s := range []struct{ name, in string }{
		{"openai", openAIStream(1000)},
		{"anthropic", anthropicStream(1000)},
		{"openai_crlf", string(bytes.ReplaceAll([]byte(openAIStream(1000)), []byte("\n"), []byte("\r\n")))},
	} {
		b.Run(s.name, func(b *testing.B) {
			in := []byte(s.in)
			src := bytes.NewReader(in)
			r := sse.NewReader(src)
			b.SetBytes(int64(len(s.in)))
			b.ReportAllocs()
			events := 0
			for b.Loop() {
				src.Reset(in)
				r.Reset(src)
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					events++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
		})
	}
}
