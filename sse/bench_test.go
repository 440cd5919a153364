package sse_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
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

// BenchmarkWatchdogNonStream compares a small non-streaming loopback call
// through the watchdog with the bare transport. Both run in the same
// process, one after the other; their ratio is the watchdog's overhead.
func BenchmarkWatchdogNonStream(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}]}`)
	}))
	defer srv.Close()
	run := func(b *testing.B, mws ...roundtripper.Middleware) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: roundtripper.Chain(tr, mws...)}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Post(srv.URL, "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	b.Run("bare", func(b *testing.B) { run(b) })
	b.Run("watchdog", func(b *testing.B) { run(b, sse.Watchdog(sse.WatchdogConfig{})) })
	// interleaved alternates the two call by call, so that load from other
	// processes hits both alike, and reports the watchdog's extra time as
	// the median over pairs; on a plain path, and on the chat completions
	// path, where the watchdog also reads the request body (through
	// GetBody) for "stream": true.
	for _, path := range []string{"/", "/v1/chat/completions"} {
		name := "interleaved"
		if path != "/" {
			name = "interleaved_llm_path"
		}
		b.Run(name, func(b *testing.B) {
			trBare, trWatch := &http.Transport{}, &http.Transport{}
			defer trBare.CloseIdleConnections()
			defer trWatch.CloseIdleConnections()
			bare := &http.Client{Transport: trBare}
			watched := &http.Client{Transport: roundtripper.Chain(trWatch, sse.Watchdog(sse.WatchdogConfig{}))}
			var ratios []float64
			call := func(c *http.Client) time.Duration {
				start := time.Now()
				resp, err := c.Post(srv.URL+path, "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				return time.Since(start)
			}
			i := 0
			for b.Loop() {
				// Alternate which goes first, so neither always follows the other.
				var tb, tw time.Duration
				if i%2 == 0 {
					tb, tw = call(bare), call(watched)
				} else {
					tw, tb = call(watched), call(bare)
				}
				ratios = append(ratios, float64(tw)/float64(tb))
				i++
			}
			// The median pair is robust to the stalls other processes cause.
			slices.Sort(ratios)
			b.ReportMetric(100*(ratios[len(ratios)/2]-1), "overhead-%")
		})
	}
}

// BenchmarkWatchdogStream reads whole chat streams of 200 content deltas
// through the watchdog and bare, on loopback.
func BenchmarkWatchdogStream(b *testing.B) {
	body := []byte(openAIStream(200))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	run := func(b *testing.B, mws ...roundtripper.Middleware) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: roundtripper.Chain(tr, mws...)}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Post(srv.URL, "application/json", strings.NewReader(`{"stream":true}`))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	b.Run("bare", func(b *testing.B) { run(b) })
	b.Run("watchdog", func(b *testing.B) { run(b, sse.Watchdog(sse.WatchdogConfig{})) })
}
