package health

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRoundTrip measures the middleware alone, over a base that
// answers at once.
func BenchmarkRoundTrip(b *testing.B) {
	resp := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	run := func(b *testing.B, url string, prep func(*Checker)) {
		c, err := newChecker(Config{Endpoints: []string{"http://a.test/v1", "http://b.test/v1"}, Interval: -1}, newFakeClock())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if prep != nil {
			prep(c)
		}
		rt := c.Middleware()(base)
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rt.RoundTrip(req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("other-host", func(b *testing.B) { run(b, "http://other.test/v1/models", nil) })
	b.Run("preferred", func(b *testing.B) { run(b, "http://a.test/v1/models", nil) })
	b.Run("rebased", func(b *testing.B) {
		run(b, "http://a.test/v1/models", func(c *Checker) {
			var ch changes
			c.mu.Lock()
			c.ejectLocked(&ch, c.eps[0], "bench", c.clk.Now())
			c.eps[0].retryAt = c.clk.Now().Add(1 << 62)
			c.mu.Unlock()
		})
	})
	b.Run("all-out", func(b *testing.B) {
		c0 := func(c *Checker) {
			var ch changes
			c.mu.Lock()
			for _, ep := range c.eps {
				c.ejectLocked(&ch, ep, "bench", c.clk.Now())
				ep.retryAt = c.clk.Now().Add(1 << 62)
			}
			c.mu.Unlock()
		}
		cc, _ := newChecker(Config{Endpoints: []string{"http://a.test/v1", "http://b.test/v1"}, Interval: -1}, newFakeClock())
		defer cc.Close()
		c0(cc)
		rt := cc.Middleware()(base)
		req, _ := http.NewRequest(http.MethodGet, "http://a.test/v1/models", nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rt.RoundTrip(req); err == nil {
				b.Fatal("want an error")
			}
		}
	})
}

// BenchmarkLoopback compares a call over loopback with and without the
// middleware, one after the other in the same process: the ratio is what
// counts.
func BenchmarkLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	run := func(b *testing.B, rt http.RoundTripper) {
		client := &http.Client{Transport: rt}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"q":1}`))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	b.Run("bare", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
	b.Run("health", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		c, err := New(Config{Endpoints: []string{srv.URL, "http://127.0.0.1:1"}, Interval: -1, Transport: tr})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c.Middleware()(tr))
	})
}
