package transport

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"
)

// BenchmarkOverhead measures the transport's per-request overhead against
// a plain http.Transport in one run: each round sends overheadCalls
// sequential calls through each, over one kept-alive connection apiece to
// the same loopback server, alternating which goes first, so that both see
// the same machine load. It reports the median over rounds of the
// per-round ratio (transport time / plain time), the 10th-90th percentile
// spread of that ratio, and each side's time and allocations per call. An
// op is one round (2*overheadCalls calls). Compare the ratio across
// repeats (-count).
func BenchmarkOverhead(b *testing.B) {
	const overheadCalls = 16
	srv := newTestServer(b, serverOpts{})
	ctx := context.Background()
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	ours := New(Config{})
	defer ours.CloseIdleConnections()
	sides := [2]http.RoundTripper{plain, ours}
	for _, rt := range sides { // dial and warm both
		if err := call(ctx, rt, srv.URL); err != nil {
			b.Fatal(err)
		}
	}
	var took [2]time.Duration
	var mallocs [2]uint64
	var ratios []float64
	var ms runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		var d [2]time.Duration
		for k := range 2 {
			i := (k + len(ratios)) % 2 // alternate which side goes first
			runtime.ReadMemStats(&ms)
			before := ms.Mallocs
			start := time.Now()
			for range overheadCalls {
				if err := call(ctx, sides[i], srv.URL); err != nil {
					b.Fatal(err)
				}
			}
			d[i] = time.Since(start)
			runtime.ReadMemStats(&ms)
			mallocs[i] += ms.Mallocs - before
			took[i] += d[i]
		}
		ratios = append(ratios, float64(d[1])/float64(d[0]))
	}
	calls := float64(len(ratios) * overheadCalls)
	slices.Sort(ratios)
	at := func(q float64) float64 { return ratios[int(q*float64(len(ratios)-1))] }
	b.ReportMetric(at(0.5), "ratio")
	b.ReportMetric(at(0.9)-at(0.1), "ratio-p10-p90")
	b.ReportMetric(float64(took[0].Nanoseconds())/calls, "plain-ns/call")
	b.ReportMetric(float64(took[1].Nanoseconds())/calls, "transport-ns/call")
	b.ReportMetric(float64(mallocs[0])/calls, "plain-allocs/call")
	b.ReportMetric(float64(mallocs[1])/calls, "transport-allocs/call")
}

// BenchmarkOverheadParallel is BenchmarkOverhead with concurrent callers, so
// that the admission gate's lock is contended.
func BenchmarkOverheadParallel(b *testing.B) {
	srv := newTestServer(b, serverOpts{})
	ctx := context.Background()
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := call(ctx, rt, srv.URL); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("plain", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: 64}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
	b.Run("transport", func(b *testing.B) {
		tr := New(Config{MaxConnsPerHost: 64})
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
}
