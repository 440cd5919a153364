package transport

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

// testServer is an OpenAI-shaped loopback server that counts the
// connections it accepts and the requests in flight.
type testServer struct {
	*httptest.Server
	accepted, closed      atomic.Int64
	inFlight, maxInFlight atomic.Int64
	requests              atomic.Int64

	mu   sync.Mutex
	hold chan struct{} // when non-nil, handlers wait for it to close
}

type serverOpts struct {
	h2c  bool
	tls  bool // TLS with HTTP/2
	idle time.Duration
}

func newTestServer(t testing.TB, o serverOpts) *testServer {
	s := &testServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	if o.idle > 0 {
		srv.Config.IdleTimeout = o.idle
	}
	switch {
	case o.h2c:
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
		srv.Start()
	case o.tls:
		srv.EnableHTTP2 = true
		srv.StartTLS()
	default:
		srv.Start()
	}
	s.Server = srv
	t.Cleanup(srv.Close)
	return s
}

func (s *testServer) handle(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	s.requests.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}`)
}

// holdRequests makes handlers wait until the returned func is called.
func (s *testServer) holdRequests() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(ch)
		})
	}
}

// call sends one chat completion through rt and reads the whole answer.
var call = testserver.Call
