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
// sequential calls through each of three transports, over one kept-alive
// connection apiece to the same loopback server, rotating which goes first,
// so that all see the same machine load. The three: a zero http.Transport
// ("plain"), a clone of http.DefaultTransport ("default", which, like ours,
// looks up proxies from the environment for each request), and Transport.
// It reports the median over rounds of the per-round ratios (Transport time
// / plain time, and / default time), the 10th-90th percentile spread of the
// first, and each side's time and allocations per call. An op is one round
// (3*overheadCalls calls). Compare the ratios across repeats (-count).
func BenchmarkOverhead(b *testing.B) {
	const overheadCalls = 16
	srv := newTestServer(b, serverOpts{})
	ctx := context.Background()
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	def := http.DefaultTransport.(*http.Transport).Clone()
	defer def.CloseIdleConnections()
	ours := New(Config{})
	defer ours.CloseIdleConnections()
	sides := [...]http.RoundTripper{plain, def, ours}
	names := [...]string{"plain", "default", "transport"}
	for _, rt := range sides { // dial and warm all
		if err := call(ctx, rt, srv.URL); err != nil {
			b.Fatal(err)
		}
	}
	var took [len(sides)]time.Duration
	var mallocs [len(sides)]uint64
	var vsPlain, vsDefault []float64
	var ms runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		var d [len(sides)]time.Duration
		for k := range sides {
			i := (k + len(vsPlain)) % len(sides) // rotate which side goes first
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
		vsPlain = append(vsPlain, float64(d[2])/float64(d[0]))
		vsDefault = append(vsDefault, float64(d[2])/float64(d[1]))
	}
	calls := float64(len(vsPlain) * overheadCalls)
	quantile := func(r []float64, q float64) float64 {
		slices.Sort(r)
		return r[int(q*float64(len(r)-1))]
	}
	b.ReportMetric(quantile(vsPlain, 0.5), "ratio")
	b.ReportMetric(quantile(vsPlain, 0.9)-quantile(vsPlain, 0.1), "ratio-p10-p90")
	b.ReportMetric(quantile(vsDefault, 0.5), "ratio-vs-default")
	for i, name := range names {
		b.ReportMetric(float64(took[i].Nanoseconds())/calls, name+"-ns/call")
		b.ReportMetric(float64(mallocs[i])/calls, name+"-allocs/call")
	}
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
