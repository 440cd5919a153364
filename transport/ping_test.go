package transport

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

// relay forwards loopback TCP connections to target. Freeze turns the
// connections open at that moment into black holes: bytes are read and
// dropped, nothing is forwarded, nothing is closed, as with a peer that
// stopped reading or a NAT entry that vanished. Later connections flow.
type relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	pairs []*pair
}

type pair struct {
	client, server net.Conn
	frozen         atomic.Bool
}

func newRelay(t *testing.T, target string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &relay{ln: ln, target: target}
	r.wg.Go(r.accept)
	t.Cleanup(r.close)
	return r
}

func (r *relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", r.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p := &pair{client: c, server: s}
		r.mu.Lock()
		r.pairs = append(r.pairs, p)
		r.mu.Unlock()
		r.wg.Go(func() { p.pipe(c, s) })
		r.wg.Go(func() { p.pipe(s, c) })
	}
}

func (p *pair) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.frozen.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !p.frozen.Load() {
				_ = to.Close()
			}
			return
		}
	}
}

func (r *relay) freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pairs {
		p.frozen.Store(true)
	}
}

func (r *relay) close() {
	_ = r.ln.Close()
	r.mu.Lock()
	for _, p := range r.pairs {
		_ = p.client.Close()
		_ = p.server.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// closeNotifier records when the transport closes a connection.
type closeNotifier struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *closeNotifier) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func TestHTTP2PingDetectsDeadConnection(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
	rl := newRelay(t, srv.Addr())
	conns := make(chan *closeNotifier, 8)
	tr := New(Config{
		H2C: true,
		// Short so that the test is quick; the defaults are 30s and 15s.
		HTTP2SendPingTimeout: 200 * time.Millisecond,
		HTTP2PingTimeout:     time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cn := &closeNotifier{Conn: c, closed: make(chan struct{})}
			conns <- cn
			return cn, nil
		},
	})
	defer tr.CloseIdleConnections()
	url := "http://" + rl.ln.Addr().String()

	// An idle connection whose peer went silent is closed by the pings.
	require.NoError(t, call(t.Context(), tr, url))
	first := <-conns
	rl.freeze()
	select {
	case <-first.closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the dead HTTP/2 connection was not detected")
	}
	require.NoError(t, call(t.Context(), tr, url), "the next call succeeds on a new connection")
	<-conns
	assert.Equal(t, int64(2), srv.Stats().ConnsAccepted)

	// A call in flight on a connection that goes silent fails instead of
	// hanging, and the next one succeeds on a new connection.
	srv.SetScript(testserver.Fault{HeaderDelay: time.Hour})
	errc := make(chan error, 1)
	go func() { errc <- call(t.Context(), tr, url) }()
	require.Eventually(t, func() bool { return srv.Stats().InFlight == 1 }, 10*time.Second, 5*time.Millisecond)
	rl.freeze()
	start := time.Now()
	select {
	case err := <-errc:
		require.Error(t, err)
		t.Logf("in-flight call on the dead connection failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(20 * time.Second):
		t.Fatal("the call on the dead HTTP/2 connection hung")
	}
	srv.SetScript()
	require.NoError(t, call(t.Context(), tr, url))
	assert.Equal(t, int64(3), srv.Stats().ConnsAccepted)
	assert.Zero(t, tr.Stats().InFlight)
}
