package faultmatrix

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/roundtripper"
)

// TestChecksCatchFaults gives the llmhttp client a fault of its own in one
// cell and checks that the matching invariant reports it: the checks have
// teeth.
func TestChecksCatchFaults(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	mw := func(f func(next http.RoundTripper, req *http.Request) (*http.Response, error)) []llmhttp.Insert {
		return []llmhttp.Insert{{At: llmhttp.Outermost, Middleware: func(next http.RoundTripper) http.RoundTripper {
			return roundtripper.Func(func(req *http.Request) (*http.Response, error) { return f(next, req) })
		}}}
	}
	tests := []struct {
		name  string
		cell  string
		tweak func(cfg *llmhttp.Config, lg *slog.Logger)
		want  string
	}{
		{
			name:  "ambiguous failure retried",
			cell:  "server:reset-before-headers/nonstream/http1",
			tweak: func(cfg *llmhttp.Config, _ *slog.Logger) { cfg.Retry.RetryAmbiguous = true },
			want:  "reached the server 2 times, 1 allowed",
		},
		{
			name: "key logged",
			cell: "toxic:latency/nonstream/http1",
			tweak: func(cfg *llmhttp.Config, lg *slog.Logger) {
				cfg.Middleware = append(cfg.Middleware, mw(func(next http.RoundTripper, req *http.Request) (*http.Response, error) {
					lg.Info("call", "auth", req.Header.Get("Authorization"))
					return next.RoundTrip(req)
				})...)
			},
			want: "the API key appears in slog output",
		},
		{
			name: "key in an error",
			cell: "toxic:latency/nonstream/http1",
			tweak: func(cfg *llmhttp.Config, _ *slog.Logger) {
				cfg.Middleware = append(cfg.Middleware, mw(func(next http.RoundTripper, req *http.Request) (*http.Response, error) {
					return nil, &keyError{req.Header.Get("X-Api-Key")}
				})...)
			},
			want: "the API key appears in error of call",
		},
		{
			name: "untyped error",
			cell: "toxic:latency/nonstream/http1",
			tweak: func(cfg *llmhttp.Config, _ *slog.Logger) {
				cfg.Middleware = append(cfg.Middleware, mw(func(http.RoundTripper, *http.Request) (*http.Response, error) {
					return nil, errors.New("boom")
				})...)
			},
			want: "untyped error",
		},
		{
			name: "goroutine left",
			cell: "toxic:latency/nonstream/h2c",
			tweak: func(cfg *llmhttp.Config, _ *slog.Logger) {
				cfg.Middleware = append(cfg.Middleware, mw(func(next http.RoundTripper, req *http.Request) (*http.Response, error) {
					go func() { <-stop }()
					return next.RoundTrip(req)
				})...)
			},
			want: "goroutines of the client still running",
		},
		{
			name: "no connection limit",
			cell: "toxic:latency/nonstream/http1",
			tweak: func(cfg *llmhttp.Config, _ *slog.Logger) {
				cfg.Transport.MaxConnsPerHost = -1
				cfg.StreamTransport.MaxConnsPerHost = -1
			},
			want: "connections open at once, limit 2",
		},
	}
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	cells := map[string]Cell{}
	for _, c := range Cells() {
		cells[c.Name] = c
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cell, ok := cells[tt.cell]
			require.True(t, ok, tt.cell)
			r := &cellRun{cell: cell, client: LLMHTTP, calls: 3, key: keyPrefix + "0123456789abcdef", id: "check" + string(rune('a'+i)),
				api: api, tweak: tt.tweak, settleFor: 500 * time.Millisecond}
			res, err := r.run(t.Context())
			require.NoError(t, err)
			assert.Condition(t, func() bool {
				for _, v := range res.Violations {
					if strings.Contains(v, tt.want) {
						return true
					}
				}
				return false
			}, "want a violation containing %q, got %q", tt.want, res.Violations)
		})
	}
}

// keyError is a careless error that quotes the API key.
type keyError struct{ key string }

func (e *keyError) Error() string { return "bad key " + e.key }
