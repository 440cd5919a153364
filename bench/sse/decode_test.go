package sse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/packages/ssestream"
	r3 "github.com/r3labs/sse/v2"
	gosse "github.com/tmaxmax/go-sse"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/llmhttp/llmhttp/sse"
)

// decoder decodes one whole stream from r and returns how many events it saw.
type decoder struct {
	name   string
	decode func(tb testing.TB, r io.Reader) int
}

var decoders = []decoder{
	{"llmhttp", func(tb testing.TB, r io.Reader) int {
		n := 0
		d := sse.NewReader(r)
		for {
			_, err := d.Next()
			if err == io.EOF {
				return n
			}
			if err != nil {
				tb.Fatal(err)
			}
			n++
		}
	}},
	{"go-sse", func(tb testing.TB, r io.Reader) int {
		n := 0
		for _, err := range gosse.Read(r, &gosse.ReadConfig{MaxEventSize: 8 << 20}) {
			if err != nil {
				tb.Fatal(err)
			}
			n++
		}
		return n
	}},
	{"openai-ssestream", func(tb testing.TB, r io.Reader) int {
		n := 0
		d := ssestream.NewDecoder(&http.Response{
			Header: http.Header{"Content-Type": {"text/event-stream"}},
			Body:   io.NopCloser(r),
		})
		for d.Next() {
			n++
		}
		if err := d.Err(); err != nil {
			tb.Fatal(err)
		}
		return n
	}},
	{"r3labs", func(tb testing.TB, r io.Reader) int {
		// r3labs decodes only inside its Client, over an HTTP response: the
		// Client gets a transport answering from r in memory.
		n := 0
		c := r3.NewClient("http://in-memory.invalid/")
		c.Connection = &http.Client{Transport: memTransport{r}}
		c.ReconnectStrategy = &backoff.StopBackOff{}
		if err := c.SubscribeRawWithContext(context.Background(), func(*r3.Event) { n++ }); err != nil {
			tb.Fatal(err)
		}
		return n
	}},
	{"r3labs-split-only", func(tb testing.TB, r io.Reader) int {
		// Its EventStreamReader alone only splits events; it parses no field.
		n := 0
		d := r3.NewEventStreamReader(r, 8<<20)
		for {
			_, err := d.ReadEvent()
			if err == io.EOF {
				return n
			}
			if err != nil {
				tb.Fatal(err)
			}
			n++
		}
	}},
}

type memTransport struct{ r io.Reader }

func (m memTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(m.r)}, nil
}

var shapes = []struct{ name, in string }{
	{"openai", OpenAIStream(1000)},
	{"anthropic", AnthropicStream(1000)},
}

// benchDecode decodes the stream b.N times and reports MB/s, ns/event and
// allocs/event.
func benchDecode(b *testing.B, d decoder, in []byte) {
	src := bytes.NewReader(in)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	events := 0
	for b.Loop() {
		src.Reset(in)
		events += d.decode(b, src)
	}
	runtime.ReadMemStats(&after)
	if events > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(events), "allocs/event")
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, s := range shapes {
		for _, d := range decoders {
			b.Run(s.name+"/"+d.name, func(b *testing.B) { benchDecode(b, d, []byte(s.in)) })
		}
	}
}

// TestDecodersAgree checks that every decoder sees the same number of events,
// so that the benchmark compares like with like.
func TestDecodersAgree(t *testing.T) {
	for _, s := range shapes {
		for _, d := range decoders {
			if got := d.decode(t, strings.NewReader(s.in)); got != 1002 && !(s.name == "anthropic" && got == 1006) {
				t.Errorf("%s/%s: %d events", s.name, d.name, got)
			}
		}
	}
}

// TestPeerTable runs the decode benchmarks in one process and prints MB/s
// with llmhttp's ratio to each peer. The decoders take turns over three
// rounds and each keeps its best, so that load from other processes on a
// shared machine does not decide the ratios. It runs only with
// SSE_PEER_TABLE=1.
func TestPeerTable(t *testing.T) {
	if os.Getenv("SSE_PEER_TABLE") == "" {
		t.Skip("set SSE_PEER_TABLE=1 to print the peer comparison table")
	}
	type best struct{ mbs, nsPerEvent, allocs float64 }
	for _, s := range shapes {
		results := make([]best, len(decoders))
		for range 3 {
			for i, d := range decoders {
				res := testing.Benchmark(func(b *testing.B) { benchDecode(b, d, []byte(s.in)) })
				mbs := float64(res.Bytes) * float64(res.N) / res.T.Seconds() / 1e6
				if mbs > results[i].mbs {
					results[i] = best{mbs, res.Extra["ns/event"], res.Extra["allocs/event"]}
				}
			}
		}
		t.Logf("%-10s %-18s %10s %12s %12s %14s", s.name, "decoder", "MB/s", "ns/event", "allocs/event", "llmhttp ratio")
		for i, d := range decoders {
			r := results[i]
			t.Logf("%-10s %-18s %10.1f %12.1f %12.2f %14s", s.name, d.name, r.mbs, r.nsPerEvent, r.allocs, fmt.Sprintf("%.2fx", results[0].mbs/r.mbs))
		}
	}
}
