package janitor

import (
	"context"
	"net/http"
	"testing"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
)

// BenchmarkMiddleware compares sequential calls over a plain http.Transport
// with the same through the janitor's dialer and middleware.
func BenchmarkMiddleware(b *testing.B) {
	srv := testserver.New(b, testserver.Config{})
	ctx := context.Background()
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		for b.Loop() {
			if err := call(ctx, rt, srv.URL()); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
	b.Run("janitor", func(b *testing.B) {
		j := New(Config{})
		defer j.Close()
		tr := &http.Transport{DialContext: j.WrapDial(nil)}
		defer tr.CloseIdleConnections()
		run(b, roundtripper.Chain(tr, j.Middleware()))
	})
}
