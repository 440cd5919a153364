package llmhttp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp/dnscache"
	"github.com/llmhttp/llmhttp/janitor"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/health"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
	"github.com/llmhttp/llmhttp/sse"
	"github.com/llmhttp/llmhttp/transport"
)

// TestPinnedNames fails to compile when a name pinned in DESIGN.md changes
// its type or disappears: tests outside the packages rely on them.
func TestPinnedNames(t *testing.T) {
	var (
		_ func(http.RoundTripper) http.RoundTripper                             = roundtripper.Middleware(nil)
		_ http.RoundTripper                                                     = roundtripper.Func(nil)
		_ func(http.RoundTripper, ...roundtripper.Middleware) http.RoundTripper = roundtripper.Chain

		_                                                       = retry.Config{MaxRetries: 1, BaseDelay: time.Second, MaxDelay: time.Second, MaxRetryAfter: time.Second}
		_ func(retry.Config) roundtripper.Middleware            = retry.New
		_ func(*http.Response, time.Time) (time.Duration, bool) = retry.After

		_                                                  = sse.Event{ID: "", Type: "", Data: []byte(nil)}
		_ func(io.Reader) *sse.Reader                      = sse.NewReader
		_ func(*sse.Reader) (sse.Event, error)             = (*sse.Reader).Next
		_                                                  = sse.WatchdogConfig{FirstTokenTimeout: time.Second, TokenIntervalTimeout: time.Second}
		_ func(sse.WatchdogConfig) roundtripper.Middleware = sse.Watchdog
		_ error                                            = sse.ErrFirstTokenTimeout
		_ error                                            = sse.ErrTokenIntervalTimeout

		_                                                                              = dnscache.Config{TTL: time.Second, Resolver: (*net.Resolver)(nil)}
		_ func(dnscache.Config) *dnscache.Cache                                        = dnscache.New
		_ func(*dnscache.Cache, context.Context, string, string) ([]netip.Addr, error) = (*dnscache.Cache).LookupNetIP
		_ func(*dnscache.Cache, context.Context, string, string) (net.Conn, error)     = (*dnscache.Cache).DialContext
		_ func(*dnscache.Cache, context.Context, ...string) error                      = (*dnscache.Cache).Prewarm
		_ func(*dnscache.Cache) error                                                  = (*dnscache.Cache).Close

		_                                                           = janitor.Config{IdleTimeout: time.Second, MaxLifetime: time.Second, MaxRequestsPerConn: 1}
		_ func(janitor.Config) *janitor.Janitor                     = janitor.New
		_ func(*janitor.Janitor) error                              = (*janitor.Janitor).Close
		_ janitor.DialFunc                                          = func(context.Context, string, string) (net.Conn, error) { return nil, nil }
		_ func(*janitor.Janitor, janitor.DialFunc) janitor.DialFunc = (*janitor.Janitor).WrapDial
		_ func(*janitor.Janitor) roundtripper.Middleware            = (*janitor.Janitor).Middleware
		_ func(*janitor.Janitor) janitor.Stats                      = (*janitor.Janitor).Stats

		_                                             = transport.Config{MaxConnsPerHost: 1, PoolTimeout: time.Second}
		_ func(transport.Config) *transport.Transport = transport.New
		_ http.RoundTripper                           = (*transport.Transport)(nil)
		_ func(*transport.Transport)                  = (*transport.Transport).CloseIdleConnections
		_ error                                       = transport.ErrPoolTimeout

		_                                               = health.Config{Endpoints: []string{}, Interval: time.Second, Timeout: time.Second}
		_ func(health.Config) (*health.Checker, error)  = health.New
		_ func(*health.Checker) roundtripper.Middleware = (*health.Checker).Middleware
		_ func(*health.Checker) error                   = (*health.Checker).Close
		_ error                                         = health.ErrNoHealthyEndpoint

		_                                                  = ratelimit.Config{RequestsPerMinute: 1, TokensPerMinute: 1, MaxConcurrent: 1, MaxWait: time.Second}
		_ func(ratelimit.Config) *ratelimit.Limiter        = ratelimit.New
		_ func(*ratelimit.Limiter) roundtripper.Middleware = (*ratelimit.Limiter).Middleware
		_ error                                            = ratelimit.ErrLimited
	)
}
