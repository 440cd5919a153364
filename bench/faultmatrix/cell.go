package faultmatrix

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/dnscache"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
	"github.com/llmhttp/llmhttp/roundtripper/observe/prom"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
	"github.com/llmhttp/llmhttp/transport"
)

// cellRun is one cell against one client.
type cellRun struct {
	cell   Cell
	client Client
	calls  int
	key    string // the fake API key
	id     string // pprof label value, unique in the run
	api    *toxiproxy.ApiServer

	// tweak, if not nil, edits the llmhttp client's Config before use;
	// tests give a client a fault to prove that the checks catch it.
	tweak func(cfg *llmhttp.Config, logger *slog.Logger)
	// settleFor is how long the client's goroutines may take to end
	// after Close; zero means 5s.
	settleFor time.Duration

	conns connCounter
	use   useCounter
	rec   recorder
	logs  lockedBuffer
	reg   *prometheus.Registry
}

// call is what one call did.
type call struct {
	outcome string
	err     error
	typed   bool
	took    time.Duration
}

func (r *cellRun) run(ctx context.Context) (*CellResult, error) {
	proto := testserver.HTTP1
	if r.cell.Proto == H2C {
		proto = testserver.H2C
	}
	srv, err := testserver.Start(testserver.Config{Protocol: proto, MaxRequestsPerConn: r.cell.perConn})
	if err != nil {
		return nil, fmt.Errorf("faultmatrix: %s: test server: %w", r.cell.Name, err)
	}
	defer srv.Close()
	if r.cell.server != nil {
		f := r.cell.server(time.Now())
		script := make([]testserver.Fault, r.calls)
		for i := range script {
			script[i] = f
		}
		srv.SetScript(script...)
	}

	proxy, err := r.proxy(r.id, srv.Addr())
	if err != nil {
		return nil, err
	}
	defer proxy.Stop()
	r.conns.addrs = []string{proxy.Listen}
	if t := r.cell.toxic; t != nil {
		js, _ := json.Marshal(map[string]any{"name": "fault", "type": t.Type, "stream": t.Stream, "toxicity": 1, "attributes": t.Attributes})
		if _, err := proxy.Toxics.AddToxicJson(bytes.NewReader(js)); err != nil {
			return nil, fmt.Errorf("faultmatrix: %s: toxic: %w", r.cell.Name, err)
		}
		if t.Alternate {
			clean, err := r.proxy(r.id+"-clean", srv.Addr())
			if err != nil {
				return nil, err
			}
			defer clean.Stop()
			r.conns.addrs = append(r.conns.addrs, clean.Listen)
		}
	}
	// The URL names the first proxy; the dialer picks the proxy.
	base := "http://" + proxy.Listen

	res := &CellResult{Cell: r.cell, Client: r.client, Calls: r.calls, Outcomes: map[string]int{}, ConnLimit: connLimit(r.calls)}
	var calls []call
	var setupErr error
	pprof.Do(ctx, pprof.Labels(labelKey, r.id), func(ctx context.Context) {
		calls, setupErr = r.callAll(ctx, base)
	})
	if setupErr != nil {
		return nil, setupErr
	}

	// Invariant: no goroutine of the client outlives it.
	wait := r.settleFor
	if wait <= 0 {
		wait = 5 * time.Second
	}
	res.GoroutinesLeft = settle(wait, func() int {
		n, stacks := labelled(r.id)
		res.leftStacks = stacks
		return n
	})
	// Every request that reached the server is recorded once its handler
	// has read it; the handlers end when their clients are gone.
	settle(3*time.Second, func() int { return int(srv.Stats().InFlight) })
	r.check(res, calls, srv.Requests())
	if os.Getenv("FAULTMATRIX_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "--- %s [%s] log:\n%s", r.cell.Name, r.client, r.logs.String())
	}
	return res, nil
}

// proxy starts a toxiproxy proxy to upstream on a free loopback port.
func (r *cellRun) proxy(name, upstream string) (*toxiproxy.Proxy, error) {
	p := toxiproxy.NewProxy(r.api, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("faultmatrix: %s: proxy: %w", r.cell.Name, err)
	}
	return p, nil
}

// callAll makes the client, runs the calls concurrently, and closes the
// client.
func (r *cellRun) callAll(ctx context.Context, base string) ([]call, error) {
	client, closeClient, err := r.newClient()
	if err != nil {
		return nil, err
	}
	calls := make([]call, r.calls)
	var wg sync.WaitGroup
	for i := range r.calls {
		wg.Go(func() { calls[i] = r.do(ctx, client, base, i) })
	}
	wg.Wait()
	closeClient()
	return calls, nil
}

func (r *cellRun) newClient() (*http.Client, func(), error) {
	limit := connLimit(r.calls)
	h2c := r.cell.Proto == H2C
	if r.client == NetHTTP {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.DialContext = r.conns.dial
		tr.MaxConnsPerHost = limit
		tr.ResponseHeaderTimeout = ResponseHeader
		if h2c {
			var p http.Protocols
			p.SetUnencryptedHTTP2(true)
			tr.Protocols = &p
		}
		c := &http.Client{Transport: r.rec.wrap(r.use.middleware(tr))}
		if !r.cell.Stream {
			c.Timeout = Budget
		}
		return c, tr.CloseIdleConnections, nil
	}

	lg := slog.New(slog.NewTextHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.reg = prometheus.NewRegistry()
	metrics, err := prom.New(r.reg, prom.Config{})
	if err != nil {
		return nil, nil, fmt.Errorf("faultmatrix: %s: metrics: %w", r.cell.Name, err)
	}
	short := transport.MediumConcurrency
	short.MaxConnsPerHost, short.H2C, short.DialContext = limit, h2c, r.conns.dial
	stream := transport.Streaming
	stream.MaxConnsPerHost, stream.H2C, stream.DialContext = limit, h2c, r.conns.dial
	cfg := llmhttp.Config{
		Transport:       short,
		StreamTransport: &stream,
		Timeouts: llmhttp.Timeouts{
			FirstToken:    FirstToken,
			TokenInterval: TokenInterval,
			Response:      ResponseHeader,
			PoolAcquire:   3 * time.Second,
			Total:         Budget,
			TotalStream:   Budget,
		},
		Retry:     retry.Config{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, Logger: lg},
		RateLimit: ratelimit.Config{Logger: lg},
		DNS:       dnscache.Config{Logger: lg},
		Observe:   observe.Config{Logger: lg, Sinks: []observe.Sink{metrics}},
		Middleware: []llmhttp.Insert{
			{At: llmhttp.AfterRetry, Middleware: r.rec.middleware},
			{At: llmhttp.Innermost, Middleware: r.use.middleware},
		},
	}
	if r.tweak != nil {
		r.tweak(&cfg, lg)
	}
	c, err := llmhttp.NewClient(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("faultmatrix: %s: client: %w", r.cell.Name, err)
	}
	return c.Client, func() {
		_ = c.Close()
	}, nil
}

type callKey struct{}

// marker is the unique field of call n's body by which the server's
// requests are counted.
func marker(n int) string { return "mxcall" + strconv.Itoa(n) + "x" }

var markerRE = regexp.MustCompile(`mxcall(\d+)x`)

func (r *cellRun) body(n int) []byte {
	stream := ""
	if r.cell.Stream {
		stream = `,"stream":true`
	}
	if r.cell.messages {
		return fmt.Appendf(nil, `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":%q}%s}`, marker(n), stream)
	}
	return fmt.Appendf(nil, `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"user":%q%s}`, marker(n), stream)
}

// do makes call n and says how it ended.
func (r *cellRun) do(ctx context.Context, client *http.Client, base string, n int) call {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, callKey{}, n), guard)
	defer cancel()
	if r.client == NetHTTP && r.cell.Stream {
		// The caller's own bound on a stream: net/http's Client.Timeout
		// would cut a healthy long stream, so users set a deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, Budget)
		defer cancel()
	}
	path := "/v1/chat/completions"
	if r.cell.messages {
		path = "/v1/messages"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(r.body(n)))
	if err != nil {
		return call{outcome: "setup", err: err, took: time.Since(start)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("X-Api-Key", r.key)
	req.Header.Set("Anthropic-Version", "2023-06-01")

	c := call{}
	resp, err := client.Do(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case err != nil:
		case resp.StatusCode != http.StatusOK:
			c.outcome = "status " + strconv.Itoa(resp.StatusCode)
		case r.complete(body):
			c.outcome = outcomeOK
		default:
			c.outcome = "incomplete body" // a silent wrong answer
		}
	}
	c.took = time.Since(start)
	if err != nil {
		c.err = err
		c.outcome, c.typed = classify(err)
		if os.Getenv("FAULTMATRIX_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "%s [%s] call %d: %s after %v: %v\n", r.cell.Name, r.client, n, c.outcome, c.took.Round(time.Millisecond), err)
		}
	}
	if c.took > Budget+Margin {
		c.outcome = "hung"
	}
	return c
}

// complete reports whether body is a whole answer of the cell's API.
func (r *cellRun) complete(body []byte) bool {
	switch {
	case r.cell.Stream && r.cell.messages:
		return bytes.Contains(body, []byte("event: message_stop"))
	case r.cell.Stream:
		return bytes.Contains(body, []byte("data: [DONE]"))
	}
	return json.Valid(body) && (bytes.Contains(body, []byte(`"choices"`)) || bytes.Contains(body, []byte(`"content"`)))
}

// recorder sees every attempt: inside llmhttp's retry layer, or around
// net/http's transport.
type recorder struct {
	mu       sync.Mutex
	attempts map[int]int // call → attempts made
	excused  map[int]int // call → attempts after which a repeat is allowed
}

func (rec *recorder) middleware(next http.RoundTripper) http.RoundTripper {
	return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		n, ok := req.Context().Value(callKey{}).(int)
		if !ok {
			return resp, err
		}
		// The server said it did not do the work (429, 5xx), or the caller
		// saw nothing of a stream that retry replays by design.
		excused := err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) ||
			err != nil && roundtripper.Replayable(err)
		rec.mu.Lock()
		if rec.attempts == nil {
			rec.attempts, rec.excused = map[int]int{}, map[int]int{}
		}
		rec.attempts[n]++
		if excused {
			rec.excused[n]++
		}
		rec.mu.Unlock()
		return resp, err
	})
}

func (rec *recorder) wrap(rt http.RoundTripper) http.RoundTripper { return rec.middleware(rt) }

// connCounter dials TCP connections and counts them: opened, open now and
// the most open at once. It dials addrs in turn (the nth connection goes to
// addrs[n % len(addrs)]), whatever address it is asked for.
type connCounter struct {
	addrs []string

	mu                 sync.Mutex
	dials              int
	opened, open, peak int
}

func (cc *connCounter) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	cc.mu.Lock()
	addr := cc.addrs[cc.dials%len(cc.addrs)]
	cc.dials++
	cc.mu.Unlock()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	cc.opened++
	cc.open++
	cc.peak = max(cc.peak, cc.open)
	cc.mu.Unlock()
	return &countedConn{Conn: c, cc: cc}, nil
}

type countedConn struct {
	net.Conn
	cc   *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.cc.mu.Lock()
		c.cc.open--
		c.cc.mu.Unlock()
	})
	return c.Conn.Close()
}

// NetConn lets the transport reach the *net.TCPConn for keep-alive probes.
func (c *countedConn) NetConn() net.Conn { return c.Conn }

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverCounts returns how many times the server received each call's body.
func serverCounts(reqs []testserver.Request) map[int]int {
	m := map[int]int{}
	for _, q := range reqs {
		if s := markerRE.FindSubmatch(q.Body); s != nil {
			n, _ := strconv.Atoi(string(s[1]))
			m[n]++
		}
	}
	return m
}

// secretIn returns where the key's random part appears in the run's
// texts, if anywhere.
func (r *cellRun) secretIn(calls []call) []string {
	secret := strings.TrimPrefix(r.key, keyPrefix)
	var where []string
	for i, c := range calls {
		if c.err != nil && strings.Contains(c.err.Error(), secret) {
			where = append(where, fmt.Sprintf("error of call %d", i))
		}
	}
	if strings.Contains(r.logs.String(), secret) {
		where = append(where, "slog output")
	}
	if r.reg != nil {
		mfs, _ := r.reg.Gather()
		for _, mf := range mfs {
			text := mf.String() // names, help, label names and values
			if strings.Contains(text, secret) {
				where = append(where, "metric "+mf.GetName())
			}
		}
	}
	return where
}
