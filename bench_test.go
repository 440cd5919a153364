package llmhttp_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/transport"
)

// interleave times calls of a (named an) and c (named cn) in the same loop,
// alternating which goes first, so that machine noise (other processes, GC,
// frequency changes) hits both alike, and reports:
//   - an-ns and cn-ns: the median of each;
//   - extra-ns: the median of the paired differences (c minus a, in the same
//     iteration), robust to the slow spells of a shared machine;
//   - ratio: 1 + extra-ns/an-ns, the figure to quote.
//
// b.ReportAllocs covers both calls of an iteration; an-allocs and cn-allocs
// split them.
func interleave(b *testing.B, an string, a func(), cn string, c func()) {
	a()
	c()
	const keep = 1 << 17
	da := make([]time.Duration, 0, keep)
	dc := make([]time.Duration, 0, keep)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		first, second := a, c
		if i%2 == 1 {
			first, second = c, a
		}
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		t2 := time.Now()
		d1, d2 := t1.Sub(t0), t2.Sub(t1)
		if i%2 == 1 {
			d1, d2 = d2, d1
		}
		if len(da) < keep {
			da = append(da, d1)
			dc = append(dc, d2)
		}
		i++
	}
	b.StopTimer()
	diffs := make([]time.Duration, len(da))
	for k := range da {
		diffs[k] = dc[k] - da[k]
	}
	slices.Sort(diffs)
	slices.Sort(da)
	slices.Sort(dc)
	ma, mc, md := da[len(da)/2], dc[len(dc)/2], diffs[len(diffs)/2]
	b.ReportMetric(float64(ma), an+"-ns")
	b.ReportMetric(float64(mc), cn+"-ns")
	b.ReportMetric(float64(md), "extra-ns")
	b.ReportMetric(1+float64(md)/float64(ma), "ratio")
	b.ReportMetric(testing.AllocsPerRun(200, a), an+"-allocs")
	b.ReportMetric(testing.AllocsPerRun(200, c), cn+"-allocs")
}

// overheadServer is a testserver whose rate limits are far above what a
// benchmark sends: the rate limiter, which learns the server's limits from
// its headers, never paces the calls, but still does all its work.
func overheadServer(b *testing.B) *testserver.Server {
	srv, err := testserver.Start(testserver.Config{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	return srv
}

// smallCall makes a small non-streaming chat call through c and reads the
// answer to its end.
func smallCall(b *testing.B, c *http.Client, url string) func() {
	body := chatBody(false, 2)
	return func() {
		req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer sk-test")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkOverhead measures what the whole default chain of NewClient adds
// to a small non-streaming loopback call against internal/testserver: the
// same call through a bare transport.Transport of the same preset (bare)
// and through NewClient (llmhttp), interleaved call by call. The ratio metric is the figure of the budget
// (at most 1.03).
func BenchmarkOverhead(b *testing.B) {
	srv := overheadServer(b)
	bare := transport.New(transport.Config{})
	defer bare.CloseIdleConnections()
	full, err := llmhttp.NewClient(llmhttp.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer full.Close()
	interleave(b, "bare", smallCall(b, &http.Client{Transport: bare}, srv.URL()), "llmhttp", smallCall(b, full.Client, srv.URL()))
}
