package health

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// replica is an httptest server standing in for one LLM server: GET
// /v1/models is its probe path, anything else a call that answers its name.
type replica struct {
	*httptest.Server
	name        string
	probeStatus atomic.Int32 // 0: 200
	callStatus  atomic.Int32 // 0: 200
	probes      atomic.Int64
	calls       atomic.Int64
	newConns    atomic.Int64
	closedConns atomic.Int64
	probeHang   chan struct{} // when not nil, probes wait on it or their context

	mu       sync.Mutex
	lastPath string
	lastBody string
	lastAuth string
}

func newReplica(t *testing.T, name string) *replica {
	t.Helper()
	return startReplica(t, name, false)
}

// newReplicaTLS starts a replica serving HTTPS with HTTP/2 (ALPN); its
// Client().Transport trusts it.
func newReplicaTLS(t *testing.T, name string) *replica {
	t.Helper()
	return startReplica(t, name, true)
}

func startReplica(t *testing.T, name string, useTLS bool) *replica {
	t.Helper()
	r := &replica{name: name}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are what some tests provoke
	r.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			r.newConns.Add(1)
		case http.StateClosed, http.StateHijacked:
			r.closedConns.Add(1)
		}
	}
	if useTLS {
		r.EnableHTTP2 = true
		r.StartTLS()
	} else {
		r.Start()
	}
	t.Cleanup(r.Close)
	return r
}

func (r *replica) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.URL.Path == "/v1/models" {
		r.probes.Add(1)
		r.mu.Lock()
		r.lastAuth = req.Header.Get("Authorization")
		hang := r.probeHang
		r.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-req.Context().Done():
				return
			}
		}
		if s := r.probeStatus.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		_, _ = io.WriteString(w, `{"data":[]}`)
		return
	}
	r.calls.Add(1)
	r.mu.Lock()
	r.lastPath, r.lastBody = req.URL.Path, string(body)
	r.mu.Unlock()
	if s := r.callStatus.Load(); s != 0 {
		w.WriteHeader(int(s))
	}
	_, _ = io.WriteString(w, r.name)
}

func (r *replica) last() (path, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastPath, r.lastBody
}

// harness is a Checker with a fake clock over its own transport.
type harness struct {
	t        *testing.T
	c        *Checker
	clk      *fakeClock
	tr       *http.Transport
	client   *http.Client
	interval time.Duration
}

const (
	testInterval = 10 * time.Second
	testTimeout  = time.Second
)

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clk := newFakeClock()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	if cfg.Interval == 0 {
		cfg.Interval = testInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = testTimeout
	}
	if cfg.Transport == nil {
		cfg.Transport = tr
	}
	c, err := newChecker(cfg, clk)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	h := &harness{
		t: t, c: c, clk: clk, tr: tr, interval: cfg.Interval,
		client: &http.Client{Transport: roundtripper.Chain(tr, c.Middleware())},
	}
	if c.probing {
		h.waitAsleep() // the warm-up round
	}
	return h
}

// waitAsleep waits until every probe loop sleeps until its next round.
func (h *harness) waitAsleep() {
	h.t.Helper()
	n := len(h.c.eps)
	require.Eventually(h.t, func() bool { return h.clk.Waiting(h.interval*8/10) == n },
		10*time.Second, time.Millisecond, "probe loops did not go to sleep")
}

// round runs one probe round on every endpoint and waits for its results.
func (h *harness) round() {
	h.t.Helper()
	h.waitAsleep()
	h.clk.Advance(h.interval * 12 / 10)
	h.waitAsleep()
}

// get sends a GET to url and returns the status and body.
func (h *harness) get(url string) (int, string, error) {
	h.t.Helper()
	resp, err := h.client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, string(b), nil
}

// mustGet sends a GET that must succeed, and returns the body.
func (h *harness) mustGet(url string) string {
	h.t.Helper()
	code, body, err := h.get(url)
	require.NoError(h.t, err)
	require.Equal(h.t, http.StatusOK, code)
	return body
}

func (h *harness) state(i int) State { return h.c.Stats()[i].State }

// closedURL returns the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

func countIn(haystack, needle string) int { return strings.Count(haystack, needle) }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// attemptFrom returns a function that reports conn to the request's
// httptrace GotConn hook, as a transport would.
func attemptFrom(req *http.Request) func(net.Conn) {
	tr := httptrace.ContextClientTrace(req.Context())
	return func(conn net.Conn) {
		if tr != nil && tr.GotConn != nil {
			tr.GotConn(httptrace.GotConnInfo{Conn: conn})
		}
	}
}

type fakeConn struct{ net.Conn }

func (*fakeConn) Close() error { return nil }

type rwc struct{}

func (rwc) Read([]byte) (int, error)    { return 0, io.EOF }
func (rwc) Write(p []byte) (int, error) { return len(p), nil }
func (rwc) Close() error                { return nil }
