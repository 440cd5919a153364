package janitor

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testServer is an OpenAI-shaped loopback server that records, like
// internal/testserver's Stats, the connections it accepted and closed and
// the requests each connection served.
type testServer struct {
	*httptest.Server
	accepted, closed atomic.Int64
	nextID           atomic.Int64

	mu      sync.Mutex
	perConn map[int64]int64
}

type serverOpts struct {
	keepAlive time.Duration // server closes connections idle this long
	header    string        // Keep-Alive response header value, if any
	tls       bool
}

type connIDKey struct{}

func newTestServer(t testing.TB, o serverOpts) *testServer {
	s := &testServer{perConn: make(map[int64]int64)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Context().Value(connIDKey{}).(int64)
		s.mu.Lock()
		s.perConn[id]++
		s.mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		if o.header != "" {
			w.Header().Set("Keep-Alive", o.header)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}`)
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connIDKey{}, s.nextID.Add(1))
	}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	srv.Config.IdleTimeout = o.keepAlive
	if o.tls {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	s.Server = srv
	t.Cleanup(srv.Close)
	return s
}

// requestsPerConn returns the requests served by each connection, in the
// order the connections were accepted.
func (s *testServer) requestsPerConn() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int64, 0, len(s.perConn))
	for id := int64(1); id <= s.nextID.Load(); id++ {
		if n, ok := s.perConn[id]; ok {
			out = append(out, n)
		}
	}
	return out
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// call sends one chat completion (a POST, which net/http re-sends by itself
// only when nothing of it was written) and reads the whole answer.
func call(ctx context.Context, rt http.RoundTripper, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(chatBody))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = &statusError{resp.StatusCode}
	}
	return err
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }
