package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Protocol selects how the server speaks HTTP.
type Protocol int

const (
	// HTTP1 is plain HTTP/1.1.
	HTTP1 Protocol = iota
	// H2C is HTTP/2 without TLS, with prior knowledge (the server also
	// accepts HTTP/1.1 on the same port).
	H2C
	// TLS is HTTPS with HTTP/2 and HTTP/1.1 offered through ALPN, on a
	// self-signed certificate for 127.0.0.1, ::1 and localhost.
	TLS
)

// String returns "http1", "h2c" or "tls".
func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return "http1"
	case H2C:
		return "h2c"
	case TLS:
		return "tls"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// Config sets up a Server. The zero Config is a plain HTTP/1.1 server that
// answers every request normally.
type Config struct {
	Protocol           Protocol
	Script             []Fault       // Script[i] applies to the (i+1)th request to an API path; after it, Default
	Default            Fault         // zero: a normal answer
	TokensPerSecond    float64       // pacing of streamed tokens; 0: as fast as possible
	KeepAliveTimeout   time.Duration // server closes connections idle this long; 0: never
	MaxRequestsPerConn int           // server closes a connection after this many requests; 0: no limit
	RequestsPerMinute  int           // enforced (429 + headers) when > 0; rate-limit headers always sent
	TokensPerMinute    int           // enforced (429 + headers) when > 0; rate-limit headers always sent

	// MaxConcurrentStreams caps the streams of one HTTP/2 connection
	// (SETTINGS_MAX_CONCURRENT_STREAMS); 0: Go's default, currently 250.
	MaxConcurrentStreams int

	// NominalRequestsPerMinute and NominalTokensPerMinute are the limits
	// the rate-limit headers report, without enforcing them, when
	// RequestsPerMinute or TokensPerMinute is zero; 0 means 10,000 requests
	// and 2,000,000 tokens a minute. Raise them for load runs whose clients
	// adapt to the headers (ratelimit learns a 10,000 RPM server's pace,
	// about 167 requests a second).
	NominalRequestsPerMinute int
	NominalTokensPerMinute   int
}

// Stats are the server's counters, a snapshot taken by [Server.Stats].
type Stats struct {
	ConnsAccepted, ConnsClosed int64
	InFlight, MaxInFlight      int64
	Requests                   int64
	RequestsByPath             map[string]int64
	RequestsPerConn            map[int64]int64 // connection ID -> requests served on it; connections that served none are left out
}

// Request is one request as the server received it.
type Request struct {
	Method, Path string
	Header       http.Header // a copy
	Body         []byte      // a copy
	ConnID       int64       // the connection it came on; IDs start at 1 in accept order
	Proto        string      // "HTTP/1.1" or "HTTP/2.0"
	Received     time.Time   // when its body had been read
}

// Server is a fake OpenAI- and Anthropic-compatible API server on a loopback
// port. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	now      func() time.Time
	srv      *http.Server
	ln       net.Listener
	addr     string
	url      string
	done     chan struct{} // closed by Close: every wait in a handler ends
	served   chan struct{} // closed when Serve has returned
	closeErr error
	once     sync.Once

	script  atomic.Pointer[script]
	limiter *limiter
	nextID  atomic.Int64 // request IDs

	connID   atomic.Int64
	connMu   sync.Mutex
	live     map[*trackedConn]struct{} // open connections
	all      []*trackedConn            // every connection ever, for RequestsPerConn
	accepted atomic.Int64
	closed   atomic.Int64

	requests    atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	byPath      sync.Map // path -> *atomic.Int64

	// Close waits for handlers with an atomic count rather than a
	// sync.WaitGroup, whose Add must not race with Wait.
	active   atomic.Int64
	closing  atomic.Bool
	idleWake chan struct{}

	logMu sync.Mutex
	log   []Request

	trMu       sync.Mutex
	transports []*http.Transport
}

type script struct {
	faults []Fault
	n      atomic.Int64
}

// Start starts a server on 127.0.0.1 on a free port. Close stops it.
func Start(cfg Config) (*Server, error) { return start(cfg, time.Now) }

func start(cfg Config, now func() time.Time) (*Server, error) {
	cfg.Script = append([]Fault(nil), cfg.Script...)
	s := &Server{
		cfg:      cfg,
		now:      now,
		done:     make(chan struct{}),
		served:   make(chan struct{}),
		limiter:  newLimiter(cfg),
		live:     make(map[*trackedConn]struct{}),
		idleWake: make(chan struct{}, 1),
	}
	s.script.Store(&script{faults: cfg.Script})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testserver: listen: %w", err)
	}
	s.ln = &trackingListener{Listener: ln, s: s}
	s.addr = ln.Addr().String()

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	switch cfg.Protocol {
	case H2C:
		protocols.SetUnencryptedHTTP2(true)
	case TLS:
		protocols.SetHTTP2(true)
	}
	s.srv = &http.Server{
		Handler:     s,
		Protocols:   protocols,
		IdleTimeout: cfg.KeepAliveTimeout,
		ErrorLog:    log.New(io.Discard, "", 0), // faults make the server complain; nobody asked to hear it
		HTTP2:       &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			if tc, ok := c.(*trackedConn); ok {
				ctx = context.WithValue(ctx, connKey{}, tc)
			}
			return ctx
		},
	}
	scheme := "http"
	if cfg.Protocol == TLS {
		cert, _, err := certificate()
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("testserver: certificate: %w", err)
		}
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		scheme = "https"
	}
	s.url = scheme + "://" + s.addr
	go func() {
		defer close(s.served)
		if cfg.Protocol == TLS {
			s.srv.ServeTLS(s.ln, "", "")
		} else {
			s.srv.Serve(s.ln)
		}
	}()
	return s, nil
}

// New starts a server for a test or benchmark and closes it when tb ends.
// It fails tb if the server cannot start.
func New(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := Start(cfg)
	if err != nil {
		tb.Fatalf("testserver: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// URL returns the base URL, without /v1: "http://127.0.0.1:40123", or
// "https://..." for TLS.
func (s *Server) URL() string { return s.url }

// Addr returns the listening address, "127.0.0.1:40123".
func (s *Server) Addr() string { return s.addr }

// Transport returns a new transport set up for the server's protocol: only
// HTTP/1.1 for HTTP1, HTTP/2 with prior knowledge for H2C, and for TLS a
// root pool trusting the server's certificate with HTTP/2 offered. The caller
// should close its idle connections when done; Close does so too.
func (s *Server) Transport() *http.Transport {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           new(http.Protocols),
	}
	switch s.cfg.Protocol {
	case HTTP1:
		tr.Protocols.SetHTTP1(true)
	case H2C:
		tr.Protocols.SetUnencryptedHTTP2(true)
	case TLS:
		_, pool, _ := certificate()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		tr.Protocols.SetHTTP1(true)
		tr.Protocols.SetHTTP2(true)
		tr.ForceAttemptHTTP2 = true
	}
	s.trMu.Lock()
	s.transports = append(s.transports, tr)
	s.trMu.Unlock()
	return tr
}

// Client returns a client over a new transport like Transport's.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.Transport()} }

// SetScript replaces the script; the request count restarts at 0, so
// faults[0] applies to the next request to an API path.
func (s *Server) SetScript(faults ...Fault) {
	s.script.Store(&script{faults: append([]Fault(nil), faults...)})
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		ConnsAccepted:   s.accepted.Load(),
		ConnsClosed:     s.closed.Load(),
		InFlight:        s.inFlight.Load(),
		MaxInFlight:     s.maxInFlight.Load(),
		Requests:        s.requests.Load(),
		RequestsByPath:  make(map[string]int64),
		RequestsPerConn: make(map[int64]int64),
	}
	s.byPath.Range(func(k, v any) bool {
		st.RequestsByPath[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	s.connMu.Lock()
	for _, c := range s.all {
		if n := c.requests.Load(); n > 0 {
			st.RequestsPerConn[c.id] = n
		}
	}
	s.connMu.Unlock()
	return st
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	out := append([]Request(nil), s.log...)
	s.logMu.Unlock()
	for i := range out {
		out[i].Header = out[i].Header.Clone()
		out[i].Body = bytes.Clone(out[i].Body)
	}
	return out
}

// Close closes the listener and every connection, stalled ones included,
// ends every delay and stall, and waits for all handlers to return. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.closing.Store(true)
		err := s.srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.closeErr = err
		s.connMu.Lock()
		live := make([]*trackedConn, 0, len(s.live))
		for c := range s.live {
			live = append(live, c)
		}
		s.connMu.Unlock()
		for _, c := range live {
			c.Close()
		}
		// Only now wake the handlers: a stream they end must not look
		// complete to a client whose connection is still open.
		close(s.done)
		<-s.served
		for s.active.Load() > 0 {
			<-s.idleWake
		}
		s.trMu.Lock()
		for _, tr := range s.transports {
			tr.CloseIdleConnections()
		}
		s.trMu.Unlock()
	})
	return s.closeErr
}

// enter registers a running handler; it fails once Close has begun.
func (s *Server) enter() bool {
	s.active.Add(1)
	if s.closing.Load() {
		s.leave()
		return false
	}
	return true
}

func (s *Server) leave() {
	if s.active.Add(-1) == 0 && s.closing.Load() {
		select {
		case s.idleWake <- struct{}{}:
		default:
		}
	}
}

type connKey struct{}

// trackingListener numbers and counts the connections it accepts.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.s
	tc := &trackedConn{Conn: c, s: s, id: s.connID.Add(1)}
	tc.tcp, _ = c.(*net.TCPConn)
	s.accepted.Add(1)
	s.connMu.Lock()
	s.live[tc] = struct{}{}
	s.all = append(s.all, tc)
	s.connMu.Unlock()
	if s.closing.Load() {
		// Close may have listed the open connections before this one was added.
		tc.Close()
	}
	return tc, nil
}

// trackedConn is an accepted connection with an ID and a request count.
type trackedConn struct {
	net.Conn
	s        *Server
	id       int64
	tcp      *net.TCPConn
	requests atomic.Int64
	writes   atomic.Int64 // completed Write calls
	once     sync.Once
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.writes.Add(1)
	return n, err
}

// awaitWrite waits, briefly, for the connection's next write. The HTTP/2
// server copies a handler's flushed data into its own buffer and writes it
// to the connection from another goroutine a moment later; dropping the
// connection before that would lose what the handler sent. If that write has
// already happened, there is no next one and the wait ends after 20ms.
func (c *trackedConn) awaitWrite(done <-chan struct{}) {
	seq := c.writes.Load()
	deadline := time.NewTimer(20 * time.Millisecond)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for c.writes.Load() == seq {
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case <-done:
			return
		}
	}
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.closed.Add(1)
		c.s.connMu.Lock()
		delete(c.s.live, c)
		c.s.connMu.Unlock()
	})
	return err
}

// abort drops the connection. With reset it is an abortive close
// (SO_LINGER 0): the kernel sends RST and discards unsent data. Otherwise it
// shuts down the sending side, so the client reads FIN, and leaves the full
// close to the HTTP server, which makes it when it next fails to write or
// reads the client's own close. A plain Close would not do: if the client
// has sent anything the server has not read yet (an HTTP/2 WINDOW_UPDATE,
// say), Linux answers the close with RST instead of FIN.
func (c *trackedConn) abort(reset bool) {
	if c.tcp == nil {
		c.Close()
		return
	}
	if reset {
		c.tcp.SetLinger(0)
		c.Close()
		return
	}
	if c.tcp.CloseWrite() != nil {
		c.Close()
	}
}
