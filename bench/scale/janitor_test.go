package scale

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/janitor"
	"github.com/llmhttp/llmhttp/transport"
)

// TestIdleExpiry measures what closing many idle connections costs the
// client: n streams end at spread times, their connections go idle, and
// expire after 1s, closed by the janitor's sweeper (or, with the janitor
// off, by net/http's per-connection idle timers). It logs the client's CPU
// over the expiry phase and the slowest Client.Stats call meanwhile (it
// takes the janitor's lock, as every request's GotConn and PutIdleConn do).
// A measurement for the report, run with SCALE_FULL=1.
func TestIdleExpiry(t *testing.T) {
	if !full() {
		t.Skip("SCALE_FULL=1 runs it")
	}
	n := 10000
	for _, withJanitor := range []bool{true, false} {
		t.Run(fmt.Sprint("janitor=", withJanitor), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			srv, err := startChild(ctx, testserver.Config{TokensPerSecond: 1, NominalRequestsPerMinute: 100 * n, NominalTokensPerMinute: 1 << 40})
			require.NoError(t, err)
			defer srv.close()
			st := transport.Streaming
			st.MaxConns, st.MaxConnsPerHost = n+n/10, n+n/10
			st.IdleConnTimeout = time.Second
			cfg := llmhttp.Config{StreamTransport: &st, Janitor: janitor.Config{IdleTimeout: time.Second}, DisableJanitor: !withJanitor}
			c, err := llmhttp.NewClient(cfg)
			require.NoError(t, err)
			defer c.Close()

			// Every stream opens; then, released together, each ends at
			// its own time over 5s, so that its connection goes idle (and
			// expires) apart from the others.
			var wg sync.WaitGroup
			sem := make(chan struct{}, 256)
			opened := make(chan struct{}, n)
			release := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					sem <- struct{}{}
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+srv.addr+"/v1/chat/completions", strings.NewReader(streamBody(2)))
					resp, err := c.Do(req)
					<-sem
					opened <- struct{}{}
					if err != nil {
						return
					}
					defer resp.Body.Close()
					<-release
					wait := time.NewTimer(time.Duration(i%1000) * 5 * time.Millisecond)
					defer wait.Stop()
					select {
					case <-wait.C:
					case <-ctx.Done():
					}
					_, _ = io.Copy(io.Discard, resp.Body)
				})
			}
			for range n {
				<-opened
			}
			first := time.Now()
			close(release)
			cpu0 := cpuTime()
			s0, err := srv.stats(ctx)
			require.NoError(t, err)
			// Probe the janitor's lock while connections expire.
			stop := make(chan struct{})
			var worst time.Duration
			var probes sync.WaitGroup
			probes.Go(func() {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					t0 := time.Now()
					_ = c.Stats()
					worst = max(worst, time.Since(t0))
				}
			})
			wg.Wait()
			last := time.Now()
			poll := time.NewTicker(20 * time.Millisecond)
			defer poll.Stop()
			var s1 childStats
			for {
				s1, err = srv.stats(ctx)
				require.NoError(t, err)
				if s1.ConnsClosed >= s0.ConnsAccepted || ctx.Err() != nil {
					break
				}
				<-poll.C
			}
			done := time.Now()
			close(stop)
			probes.Wait()
			t.Logf("janitor=%v: %d streams ended over %v; all %d connections closed %v after the last ended; client CPU from the first end: %v; slowest Client.Stats: %v",
				withJanitor, n, last.Sub(first).Round(time.Millisecond), s1.ConnsClosed, done.Sub(last).Round(time.Millisecond), (cpuTime() - cpu0).Round(time.Millisecond), worst.Round(time.Microsecond))
		})
	}
}
