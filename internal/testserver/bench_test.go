package testserver

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// discardWriter is a ResponseWriter that throws the body away, so a
// benchmark measures the server's own work.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(int)     {}
func (w *discardWriter) Flush()              {}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// benchStream serves one streamed completion of n tokens per iteration
// straight into the handler, without a network.
func benchStream(b *testing.B, path string, n int) {
	s, err := Start(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := `{"model":"m","stream":true,"max_tokens":` + strconv.Itoa(n) + `}`
	b.ReportAllocs()
	for b.Loop() {
		r, _ := http.NewRequest(http.MethodPost, path, strings.NewReader(body))
		w := &discardWriter{h: make(http.Header)}
		s.ServeHTTP(w, r)
		if w.n == 0 {
			b.Fatal("no body")
		}
	}
}

// Allocations per stream do not grow with its length: compare the /16 and
// /1024 figures.
func BenchmarkStream(b *testing.B) {
	for _, path := range []string{"/v1/chat/completions", "/v1/responses", "/v1/messages"} {
		for _, n := range []int{16, 1024} {
			b.Run(strings.TrimPrefix(path, "/v1/")+"/"+strconv.Itoa(n), func(b *testing.B) { benchStream(b, path, n) })
		}
	}
}

// BenchmarkStreamHTTP runs whole streams over loopback, many at once.
func BenchmarkStreamHTTP(b *testing.B) {
	for _, p := range []Protocol{HTTP1, H2C} {
		b.Run(p.String(), func(b *testing.B) {
			s := New(b, Config{Protocol: p})
			c := s.Client()
			defer c.CloseIdleConnections()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Post(s.URL()+"/v1/chat/completions", "application/json", strings.NewReader(`{"stream":true,"max_tokens":64}`))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
