package retry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
)

const smallBody = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

func smallServer(tb testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","choices":[]}`)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func call(tb testing.TB, rt http.RoundTripper, url string) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(smallBody))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// BenchmarkHappyPath measures a small loopback call that succeeds first
// time, over the bare transport and through retry.New, each on a transport
// of its own, one after the other in the same run.
func BenchmarkHappyPath(b *testing.B) {
	srv := smallServer(b)
	for _, name := range []string{"bare", "retry"} {
		b.Run(name, func(b *testing.B) {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			var rt http.RoundTripper = tr
			if name == "retry" {
				rt = roundtripper.Chain(tr, retry.New(retry.Config{}))
			}
			b.ReportAllocs()
			for b.Loop() {
				call(b, rt, srv.URL)
			}
		})
	}
}

// BenchmarkHappyPathInterleaved alternates bare and retried calls in one
// loop, so that both see the same machine load, and reports the ratio of
// their median times ("ratio" 1.01 = 1% overhead).
func BenchmarkHappyPathInterleaved(b *testing.B) {
	srv := smallServer(b)
	bareTr, retryTr := &http.Transport{}, &http.Transport{}
	defer bareTr.CloseIdleConnections()
	defer retryTr.CloseIdleConnections()
	wrapped := roundtripper.Chain(retryTr, retry.New(retry.Config{}))
	var bare, retried []time.Duration
	b.ReportAllocs()
	for k := 0; b.Loop(); k++ {
		// Alternate who goes first, so neither always follows the other.
		if k%2 == 0 {
			t0 := time.Now()
			call(b, bareTr, srv.URL)
			bare = append(bare, time.Since(t0))
		}
		t0 := time.Now()
		call(b, wrapped, srv.URL)
		retried = append(retried, time.Since(t0))
		if k%2 == 1 {
			t0 := time.Now()
			call(b, bareTr, srv.URL)
			bare = append(bare, time.Since(t0))
		}
	}
	mb, mr := median(bare), median(retried)
	b.ReportMetric(float64(mb.Nanoseconds()), "bare-ns/op")
	b.ReportMetric(float64(mr.Nanoseconds()), "retry-ns/op")
	b.ReportMetric(float64(mr)/float64(mb), "ratio")
}

// median is robust to the scheduling spikes of a shared machine, which
// swamp a mean at the 1% level.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkDecorator measures the decorator alone over a base that answers
// at once: what a first-time success costs it, allocations included.
func BenchmarkDecorator(b *testing.B) {
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}
	base := roundtripper.Func(func(*http.Request) (*http.Response, error) { return resp, nil })
	rt := roundtripper.Chain(base, retry.New(retry.Config{}))
	req := httptest.NewRequest(http.MethodPost, "http://api.example.com/v1/chat/completions", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHappyPathAllocatesNothing(t *testing.T) {
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}
	base := roundtripper.Func(func(*http.Request) (*http.Response, error) { return resp, nil })
	rt := roundtripper.Chain(base, retry.New(retry.Config{}))
	req := httptest.NewRequest(http.MethodPost, "http://api.example.com/v1/chat/completions", nil)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a first-time success allocates %v times in the decorator, want 0", allocs)
	}
}
