package ws_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var protocols = []struct {
	name  string
	proto testserver.Protocol
}{
	{"ws", testserver.HTTP1},
	{"wss", testserver.TLS},
}

// env is a test server and a client whose transport dials through a
// counting DialContext, as transport.New's would through dnscache.
type env struct {
	srv    *testserver.Server
	client *http.Client
	dials  *atomic.Int64
	url    string
}

func newEnv(t *testing.T, proto testserver.Protocol, cfg testserver.Config) *env {
	t.Helper()
	cfg.Protocol = proto
	srv := testserver.New(t, cfg)
	tr := srv.Transport()
	dials := new(atomic.Int64)
	d := &net.Dialer{KeepAlive: 15 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	t.Cleanup(tr.CloseIdleConnections)
	u := strings.Replace(srv.URL(), "http", "ws", 1) + testserver.RealtimePath
	return &env{srv: srv, client: &http.Client{Transport: tr}, dials: dials, url: u}
}

func (e *env) dial(t *testing.T, cfg ws.Config) *ws.Conn {
	t.Helper()
	cfg.HTTPClient = e.client
	c, err := ws.Dial(t.Context(), e.url, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// handshakes counts the server's realtime handshakes.
func (e *env) handshakes() int {
	n := 0
	for _, r := range e.srv.Requests() {
		if r.Path == testserver.RealtimePath {
			n++
		}
	}
	return n
}

// readType reads events until one of type want, failing on error.
func readType(t *testing.T, c *ws.Conn, want string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		typ, data, err := c.ReadEvent(ctx)
		require.NoError(t, err)
		if typ == want {
			return data
		}
	}
}

// readErr reads until an error and returns it with the time it came.
func readErr(t *testing.T, c *ws.Conn) (error, time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			require.NoError(t, ctx.Err(), "no error before the test's deadline")
			return err, time.Now()
		}
	}
}
