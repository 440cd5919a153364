package transport

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkOverhead compares a request through Transport with one through a
// plain http.Transport, sequentially over one kept-alive connection to a
// loopback server. The ratio of the two is the transport's overhead.
func BenchmarkOverhead(b *testing.B) {
	srv := newTestServer(b, serverOpts{})
	ctx := context.Background()
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		for b.Loop() {
			if err := call(ctx, rt, srv.URL); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
	b.Run("transport", func(b *testing.B) {
		tr := New(Config{})
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
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
