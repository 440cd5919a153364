package llmhttp_test

import (
	"bytes"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/transport"
)

// BenchmarkOverhead measures what the whole default chain of NewClient adds
// to a small non-streaming loopback call, against the same call through a
// bare transport.Transport. The two alternate call by call, so that machine
// noise hits both alike; the reported ratio is of the medians.
func BenchmarkOverhead(b *testing.B) {
	// Limits far above what the benchmark sends, so that the rate limiter,
	// which learns the server's limits from its headers, never paces it.
	srv, err := testserver.Start(testserver.Config{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	body := chatBody(false, 2)

	bare := transport.New(transport.Config{})
	defer bare.CloseIdleConnections()
	bareClient := &http.Client{Transport: bare}
	full, err := llmhttp.NewClient(llmhttp.Config{DisableDNSCache: true})
	if err != nil {
		b.Fatal(err)
	}
	defer full.Close()

	call := func(c *http.Client) time.Duration {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return time.Since(start)
	}
	call(bareClient)
	call(full.Client)

	var tb, tf []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		tb = append(tb, call(bareClient))
		tf = append(tf, call(full.Client))
	}
	med := func(d []time.Duration) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)/2])
	}
	b.ReportMetric(med(tb), "bare-ns/call")
	b.ReportMetric(med(tf), "llmhttp-ns/call")
	b.ReportMetric(med(tf)/med(tb), "ratio")
}
