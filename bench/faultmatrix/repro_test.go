package faultmatrix

import (
	"context"
	"io"
	"net/http"
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

// TestReproH2ConnLeftAfterClose is the regression test of a finding of the
// matrix: 20 streams over h2c stall after 4 tokens and end (by llmhttp's
// token-interval watchdog, or a caller's deadline for net/http), every body
// is closed, then the client is closed. llmhttp's Client.Close used to
// leave an HTTP/2 connection open, with its read goroutine, until the
// transport's IdleConnTimeout (120s for streams): 5-6 runs in 40, net/http
// 0 in 40. The connection became idle only after Close, because the h2
// stream's cleanup finishes after Body.Close has returned (Body.Close does
// not wait for it once the request's context is done, and the watchdog
// cancelled that context). Fixed in janitor: after Close, each connection
// is closed as its last request ends (40 of 40 runs pass).
// Run it many times with go test -run ReproH2 -count=40.
func TestReproH2ConnLeftAfterClose(t *testing.T) {
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
				client, closeFn = c.Client, func() { require.NoError(t, c.Close()) }
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

// TestReproH2ReplayOnStalledConn is the regression test of another
// finding: when an h2c connection stops delivering anything (toxiproxy's
// timeout toxic drops every byte from the server, the request still
// reaches it), a stream's first-token timeout used to be replayed onto the
// same connection, again and again, until the call's total timeout (4
// attempts on 1 connection). The janitor now retires a connection on which
// a request gave up without headers after 250ms of silence, so each replay
// dials anew, as over HTTP/1.1. Run it with go test -run ReproH2Replay -v.
func TestReproH2ReplayOnStalledConn(t *testing.T) {
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
