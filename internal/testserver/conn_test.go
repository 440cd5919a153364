package testserver

import (
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeepAliveTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, KeepAliveTimeout: idle})
			c := client(t, s)
			resp, _ := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			done := time.Now()
			if p == HTTP1 {
				assert.Equal(t, "timeout=1", resp.Header.Get("Keep-Alive"))
			} else {
				assert.Empty(t, resp.Header.Get("Keep-Alive"), "HTTP/2 has no Keep-Alive header")
			}
			// Used within the timeout, the connection is reused.
			fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			require.Equal(t, int64(1), s.Stats().ConnsAccepted)

			// Left idle, the server closes it.
			require.Eventually(t, func() bool { return s.Stats().ConnsClosed == 1 }, 5*time.Second, 5*time.Millisecond)
			assert.GreaterOrEqual(t, time.Since(done), idle)
			// The client may not have seen the FIN yet; a POST on a
			// connection closing under it fails, and is not retried.
			c.CloseIdleConnections()
			fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			st := s.Stats()
			assert.Equal(t, int64(2), st.ConnsAccepted)
			assert.Equal(t, map[int64]int64{1: 2, 2: 1}, st.RequestsPerConn)
		})
	}
}

func TestMaxRequestsPerConn(t *testing.T) {
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, MaxRequestsPerConn: 2})
			c := client(t, s)
			for i := range 5 {
				resp, body := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
				assert.Equal(t, Text(4), deltas(t, body))
				if p == HTTP1 {
					assert.Equal(t, i%2 == 1, resp.Close, "Connection: close on the last request of a connection")
				}
				if i%2 == 1 {
					// The client may start the next request before it has seen
					// the connection go; wait for the server to close it.
					require.Eventually(t, func() bool { return s.Stats().ConnsClosed == int64(i/2+1) }, 5*time.Second, 5*time.Millisecond)
				}
			}
			st := s.Stats()
			if p == HTTP1 {
				assert.Equal(t, int64(3), st.ConnsAccepted)
				assert.Equal(t, map[int64]int64{1: 2, 2: 2, 3: 1}, st.RequestsPerConn)
			} else {
				// Go's HTTP/2 client may dial a spare connection while the
				// server is closing one, and then not use it; the requests
				// still go two, two and one per connection.
				assert.GreaterOrEqual(t, st.ConnsAccepted, int64(3))
				perConn := slices.Sorted(maps.Values(st.RequestsPerConn))
				assert.Equal(t, []int64{1, 2, 2}, perConn)
			}
			for _, r := range s.Requests() {
				assert.LessOrEqual(t, st.RequestsPerConn[r.ConnID], int64(2))
			}
		})
	}
}

func TestStatsAndRequests(t *testing.T) {
	for _, p := range []Protocol{HTTP1, H2C, TLS} {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, Default: Fault{StallAfter: 1}})
			c := client(t, s)
			const n = 4
			fetch(t, c, s, "/health", "", nil) // one connection, which HTTP/2 then multiplexes
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/v1/messages", strings.NewReader(`{"stream":true,"n":`+string(rune('0'+i))+`}`))
					if !assert.NoError(t, err) {
						return
					}
					req.Header.Set("X-Api-Key", "k")
					resp, err := c.Do(req)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				})
			}
			require.Eventually(t, func() bool { return s.Stats().InFlight == n }, 5*time.Second, 5*time.Millisecond)
			cancel()
			wg.Wait()
			require.Eventually(t, func() bool { return s.Stats().InFlight == 0 }, 5*time.Second, 5*time.Millisecond)
			st := s.Stats()
			assert.Equal(t, int64(n), st.MaxInFlight)
			assert.Equal(t, int64(n+1), st.Requests)
			assert.Equal(t, map[string]int64{"/v1/messages": n, "/health": 1}, st.RequestsByPath)
			var total int64
			for _, v := range st.RequestsPerConn {
				total += v
			}
			assert.Equal(t, int64(n+1), total)
			if p != HTTP1 {
				assert.Equal(t, int64(1), st.ConnsAccepted, "HTTP/2 multiplexes")
			}

			reqs := s.Requests()
			require.Len(t, reqs, n+1)
			assert.Equal(t, "/health", reqs[0].Path)
			bodies := map[string]bool{}
			for _, r := range reqs[1:] {
				assert.Equal(t, http.MethodPost, r.Method)
				assert.Equal(t, "/v1/messages", r.Path)
				assert.Equal(t, "k", r.Header.Get("X-Api-Key"))
				assert.Contains(t, st.RequestsPerConn, r.ConnID)
				assert.False(t, r.Received.IsZero())
				bodies[string(r.Body)] = true
				if p == HTTP1 {
					assert.Equal(t, "HTTP/1.1", r.Proto)
				} else {
					assert.Equal(t, "HTTP/2.0", r.Proto)
				}
			}
			assert.Len(t, bodies, n)
			reqs[1].Header.Set("X-Api-Key", "changed")
			assert.Equal(t, "k", s.Requests()[1].Header.Get("X-Api-Key"), "a copy")
		})
	}
}

// Several servers run at once, each with its own port and counters.
func TestReplicas(t *testing.T) {
	a := New(t, Config{})
	b := New(t, Config{Protocol: H2C})
	assert.NotEqual(t, a.Addr(), b.Addr())
	assert.Equal(t, "http://"+a.Addr(), a.URL())
	fetch(t, client(t, a), a, "/v1/chat/completions", streamChat, nil)
	assert.Equal(t, int64(1), a.Stats().Requests)
	assert.Zero(t, b.Stats().Requests)
}

func TestTLS(t *testing.T) {
	s := New(t, Config{Protocol: TLS})
	assert.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"))
	c := client(t, s)
	resp, body := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
	assert.Equal(t, "HTTP/2.0", resp.Proto)
	assert.Equal(t, Text(4), deltas(t, body))

	// A client that speaks only HTTP/1.1 gets it over ALPN.
	tr := s.Transport()
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	defer tr.CloseIdleConnections()
	resp, _ = fetch(t, &http.Client{Transport: tr}, s, "/health", "", nil)
	assert.Equal(t, "HTTP/1.1", resp.Proto)

	// The certificate is made once per process: replicas share it.
	s2 := New(t, Config{Protocol: TLS})
	fetch(t, client(t, s2), s2, "/health", "", nil)
	c1, _, err := certificate()
	require.NoError(t, err)
	c2, _, _ := certificate()
	assert.Same(t, c1.Leaf, c2.Leaf)
	assert.Contains(t, c1.Leaf.DNSNames, "localhost")
	assert.Len(t, c1.Leaf.IPAddresses, 2)
}

func TestMaxConcurrentStreams(t *testing.T) {
	s := New(t, Config{Protocol: H2C, MaxConcurrentStreams: 2, Default: Fault{StallAfter: 1}})
	c := client(t, s)
	fetch(t, c, s, "/health", "", nil) // the first connection, with its settings known
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/v1/chat/completions", strings.NewReader(streamChat))
			if resp, err := c.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	require.Eventually(t, func() bool { return s.Stats().InFlight == 5 }, 5*time.Second, time.Millisecond)
	// Five streams in flight need three connections at least (the client
	// may dial more while it learns the limit).
	assert.GreaterOrEqual(t, s.Stats().ConnsAccepted, int64(3))
	cancel()
	wg.Wait()
}
