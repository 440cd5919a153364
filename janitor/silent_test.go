package janitor

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/transport"
)

// silentServer accepts connections on loopback and reads everything from
// them, sending nothing: a peer whose answers are all lost.
func silentServer(t *testing.T) (addr string, accepted func() int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return len(conns) }
}

// TestSilentHTTP2ConnectionIsRetired: a request that gives up waiting for
// its headers on an HTTP/2 connection that has sent nothing retires it, so
// that the next request (a replay) dials a new one instead of waiting on
// the same dead connection.
func TestSilentHTTP2ConnectionIsRetired(t *testing.T) {
	addr, accepted := silentServer(t)
	j := New(Config{})
	j.silentAfter = 50 * time.Millisecond
	tr := transport.New(transport.Config{H2C: true, DialContext: j.WrapDial(nil)})
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = j.Close()
	})
	rt := roundtripper.Chain(tr, j.Middleware())
	const attempts = 3
	for range attempts {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(`{}`))
		require.NoError(t, err)
		_, err = rt.RoundTrip(req)
		cancel()
		require.Error(t, err)
	}
	st := j.Stats()
	assert.Equal(t, int64(attempts), st.Dialed, "each attempt on a connection of its own: %+v", st)
	assert.Equal(t, int64(attempts), st.ClosedError, "%+v", st)
	require.Eventually(t, func() bool { return accepted() == attempts }, 10*time.Second, 5*time.Millisecond)
}

// TestQuickCancelKeepsTheConnection: a request cancelled before the
// connection has been silent for long, or on a connection that received
// data meanwhile, does not retire it.
func TestQuickCancelKeepsTheConnection(t *testing.T) {
	f := newFixture(t, Config{})
	c, peer := f.dialConn()
	rs := f.use(c, false)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f.clk.Advance(defaultSilentAfter / 2)
	rs.failed(ctx, context.Canceled)
	rs.done()
	assert.False(t, isClosed(c))

	// Data arrived on it meanwhile (another stream): not silent.
	rs = f.use(c, true)
	f.clk.Advance(defaultSilentAfter)
	go func() { _, _ = peer.Write([]byte("x")) }()
	_, err := c.Read(make([]byte, 1))
	require.NoError(t, err)
	rs.failed(ctx, context.Canceled)
	rs.done()
	assert.False(t, isClosed(c))

	rs = f.use(c, true)
	f.clk.Advance(defaultSilentAfter)
	rs.failed(ctx, context.Canceled)
	rs.done()
	assert.True(t, isClosed(c), "silent for a second under a request that gave up")
	assert.Equal(t, int64(1), f.j.Stats().ClosedError)
}
