package faultmatrix

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/transport"
)

// TestReproH2ConnLeftAfterClose reproduces a finding of the matrix: 20
// streams over h2c stall after 4 tokens and end (by llmhttp's
// token-interval watchdog, or a caller's deadline for net/http), every body
// is closed, then the client is closed. llmhttp's Client.Close sometimes
// leaves an HTTP/2 connection open, with its read goroutine, until the
// transport's IdleConnTimeout (120s for streams): 5 runs in 40 here, net/http
// 0 in 40. A second CloseIdleConnections 200ms after Close
// (REPRO_SECOND_CLOSE=1) closes it every time: the connection becomes idle
// only after Close, because the h2 stream's cleanup finishes after
// Body.Close has returned (Body.Close does not wait for it once the
// request's context is done, and the watchdog cancelled that context).
// Run it with FAULTMATRIX_REPRO=1 go test -run ReproH2 -count=40.
func TestReproH2ConnLeftAfterClose(t *testing.T) {
	if os.Getenv("FAULTMATRIX_REPRO") == "" {
		t.Skip("a reproduction of a known issue; set FAULTMATRIX_REPRO=1 to run it")
	}
	for _, name := range []string{"llmhttp", "net/http"} {
		t.Run(name, func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
			const n = 20
			script := make([]testserver.Fault, n)
			for i := range script {
				script[i] = testserver.Fault{StallAfter: 4}
			}
			srv.SetScript(script...)
			var (
				client  *http.Client
				closeFn func()
				timeout = 10 * time.Second
			)
			if name == "llmhttp" {
				st := transport.Streaming
				st.H2C = true
				c, err := llmhttp.NewClient(llmhttp.Config{StreamTransport: &st,
					Timeouts: llmhttp.Timeouts{FirstToken: time.Second, TokenInterval: time.Second}})
				require.NoError(t, err)
				client, closeFn = c.Client, func() {
					require.NoError(t, c.Close())
					if os.Getenv("REPRO_SECOND_CLOSE") != "" {
						time.Sleep(200 * time.Millisecond)
						c.CloseIdleConnections()
					}
				}
			} else {
				tr := http.DefaultTransport.(*http.Transport).Clone()
				var p http.Protocols
				p.SetUnencryptedHTTP2(true)
				tr.Protocols = &p
				client, closeFn, timeout = &http.Client{Transport: tr}, tr.CloseIdleConnections, time.Second
			}
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL()+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"messages":[]}`))
					resp, err := client.Do(req)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				})
			}
			wg.Wait()
			closeFn()
			left := settle(3*time.Second, func() int {
				n := 0
				for _, b := range goroutineBlocks() {
					if strings.Contains(b, "http2ClientConn).readLoop") {
						n++
					}
				}
				return n
			})
			assert.Zero(t, left, "%s: HTTP/2 connections still open 3s after Close", name)
		})
	}
}

// TestReproH2ReplayOnStalledConn reproduces another finding: when an h2c
// connection stops delivering anything (toxiproxy's timeout toxic drops
// every byte from the server, the request still reaches it), a stream's
// first-token timeout is replayed onto the same connection, again and
// again, until the call's total timeout; every replay reaches the server.
// Over HTTP/1.1 each replay dials a connection of its own.
// Run it with FAULTMATRIX_REPRO=1 go test -run ReproH2Replay -v.
func TestReproH2ReplayOnStalledConn(t *testing.T) {
	if os.Getenv("FAULTMATRIX_REPRO") == "" {
		t.Skip("a reproduction of a known issue; set FAULTMATRIX_REPRO=1 to run it")
	}
	srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(api, "stalled", "127.0.0.1:0", srv.Addr())
	require.NoError(t, p.Start())
	defer p.Stop()
	_, err := p.Toxics.AddToxicJson(strings.NewReader(`{"name":"t","type":"timeout","stream":"downstream","toxicity":1,"attributes":{"timeout":0}}`))
	require.NoError(t, err)

	st := transport.Streaming
	st.H2C = true
	c, err := llmhttp.NewClient(llmhttp.Config{StreamTransport: &st,
		Timeouts: llmhttp.Timeouts{FirstToken: time.Second, TotalStream: 6 * time.Second}})
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	req, _ := http.NewRequest("POST", "http://"+p.Listen+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"messages":[]}`))
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
	t.Logf("server received %d requests over %d connections dialed", srv.Stats().Requests, c.Stats().Janitor.Dialed)
	assert.GreaterOrEqual(t, c.Stats().Janitor.Dialed, srv.Stats().Requests, "replays went to the same silent connection")
}
