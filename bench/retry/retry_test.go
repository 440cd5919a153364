// Package retry_test compares llmhttp's retry decorator with its peers on
// the path that matters most: a small call that succeeds first time.
package retry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	retryablehttp "github.com/hashicorp/go-retryablehttp"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const smallBody = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

// peer is one way of making the call, each over a transport of its own.
type peer struct {
	name   string
	client *http.Client
	close  func()
}

func peers() []peer {
	mk := func(name string, wrap func(*http.Transport) *http.Client) peer {
		tr := &http.Transport{}
		return peer{name: name, client: wrap(tr), close: tr.CloseIdleConnections}
	}
	return []peer{
		mk("bare", func(tr *http.Transport) *http.Client { return &http.Client{Transport: tr} }),
		mk("llmhttp", func(tr *http.Transport) *http.Client {
			return &http.Client{Transport: roundtripper.Chain(tr, retry.New(retry.Config{}))}
		}),
		mk("retryablehttp", func(tr *http.Transport) *http.Client {
			c := retryablehttp.NewClient()
			c.HTTPClient = &http.Client{Transport: tr}
			c.Logger = nil // its default writes to stderr
			return c.StandardClient()
		}),
		mk("failsafehttp", func(tr *http.Transport) *http.Client {
			return &http.Client{Transport: failsafehttp.NewRoundTripper(tr, failsafehttp.NewRetryPolicyBuilder().Build())}
		}),
	}
}

func smallServer(tb testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","choices":[]}`)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func call(tb testing.TB, c *http.Client, url string) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(smallBody))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// BenchmarkFirstTimeSuccess gives ns/op and allocs/op of each peer, one
// after the other in the same run.
func BenchmarkFirstTimeSuccess(b *testing.B) {
	srv := smallServer(b)
	for _, p := range peers() {
		b.Run(p.name, func(b *testing.B) {
			defer p.close()
			b.ReportAllocs()
			for b.Loop() {
				call(b, p.client, srv.URL)
			}
		})
	}
}

// BenchmarkFirstTimeSuccessInterleaved makes one call through each peer per
// iteration, so that all see the same machine load, and reports each one's
// median time and its ratio to the bare transport. The order rotates each
// iteration.
func BenchmarkFirstTimeSuccessInterleaved(b *testing.B) {
	srv := smallServer(b)
	ps := peers()
	defer func() {
		for _, p := range ps {
			p.close()
		}
	}()
	times := make([][]time.Duration, len(ps))
	b.ReportAllocs()
	for k := 0; b.Loop(); k++ {
		// Rotate who goes first, so no peer always follows the same one.
		for j := range ps {
			i := (j + k) % len(ps)
			t0 := time.Now()
			call(b, ps[i].client, srv.URL)
			times[i] = append(times[i], time.Since(t0))
		}
	}
	bare := median(times[0])
	for i, p := range ps {
		m := median(times[i])
		b.ReportMetric(float64(m.Nanoseconds()), p.name+"-ns/op")
		if i > 0 {
			b.ReportMetric(float64(m)/float64(bare), p.name+"/bare")
		}
	}
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

// TestPeersWork checks that every peer makes the call, so the benchmark
// compares working setups.
func TestPeersWork(t *testing.T) {
	srv := smallServer(t)
	for _, p := range peers() {
		call(t, p.client, srv.URL)
		p.close()
	}
}
