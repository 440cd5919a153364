package janitor

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
)

// BenchmarkMiddleware measures what the janitor adds to a call: sequential
// calls over a plain http.Transport and over one dialing through WrapDial
// with the Middleware around it (which follows each request through
// httptrace and, on Linux, asks the kernel about the connection when a
// request ends and at its first write), interleaved in rounds of 16 calls
// each, alternating which goes first. It reports the median per-round
// ratio (janitor time / plain time) and its 10th-90th percentile spread;
// an op is one round (32 calls).
func BenchmarkMiddleware(b *testing.B) {
	const roundCalls = 16
	srv := testserver.New(b, testserver.Config{})
	ctx := context.Background()
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	j := New(Config{})
	defer j.Close()
	tr := &http.Transport{DialContext: j.WrapDial(nil)}
	defer tr.CloseIdleConnections()
	sides := [2]http.RoundTripper{plain, roundtripper.Chain(tr, j.Middleware())}
	for _, rt := range sides {
		if err := call(ctx, rt, srv.URL()); err != nil {
			b.Fatal(err)
		}
	}
	var ratios []float64
	b.ReportAllocs()
	for b.Loop() {
		var d [2]time.Duration
		for k := range 2 {
			i := (k + len(ratios)) % 2
			start := time.Now()
			for range roundCalls {
				if err := call(ctx, sides[i], srv.URL()); err != nil {
					b.Fatal(err)
				}
			}
			d[i] = time.Since(start)
		}
		ratios = append(ratios, float64(d[1])/float64(d[0]))
	}
	slices.Sort(ratios)
	at := func(q float64) float64 { return ratios[int(q*float64(len(ratios)-1))] }
	b.ReportMetric(at(0.5), "ratio")
	b.ReportMetric(at(0.9)-at(0.1), "ratio-p10-p90")
}
