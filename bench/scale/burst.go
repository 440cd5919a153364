package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/sse"
	"github.com/llmhttp/llmhttp/transport"
)

// BurstOptions configures RunBurst. The zero value is the full run: 1,000
// concurrent streaming calls of 16 tokens at 200 tokens a second.
type BurstOptions struct {
	// Calls is the size of the burst: calls started at the same instant.
	// Zero means 1,000.
	Calls int

	// Tokens is the length of each streamed answer. Zero means 16.
	Tokens int

	// TokensPerSecond paces each stream. Zero means 200.
	TokensPerSecond float64

	// Timeout bounds each client's burst; calls still running then fail.
	// Zero means 60s.
	Timeout time.Duration
}

func (o *BurstOptions) calls() int  { return orInt(o.Calls, 1000) }
func (o *BurstOptions) tokens() int { return orInt(o.Tokens, 16) }
func (o *BurstOptions) tps() float64 {
	if o.TokensPerSecond > 0 {
		return o.TokensPerSecond
	}
	return 200
}
func (o *BurstOptions) timeout() time.Duration { return orDur(o.Timeout, time.Minute) }

// BurstReport is what RunBurst measured, one row per client.
type BurstReport struct {
	Date       time.Time
	GoVersion  string
	GOMAXPROCS int
	Options    BurstOptions
	Rows       []BurstRow
}

// BurstRow is one client's burst.
type BurstRow struct {
	Name string // "http.DefaultTransport (clone)", "transport.Streaming", ...
	// Config is the transport preset the row used (zero for the
	// DefaultTransport clone and for NewClient, which uses
	// transport.Streaming for streams).
	Config transport.Config
	// ConnsOpened is how many connections the server accepted during the
	// burst.
	ConnsOpened int64
	// TTFT holds the time to first token of every call that got one, in
	// the order the calls finished: from the call's start (all at once)
	// to its first content token, pool wait included. Kept raw for plots.
	TTFT     []time.Duration
	TTFTDist Dist
	Wall     time.Duration // from the start of the burst to the end of its last call
	OK       int           // calls that streamed to the end
	Errors   map[string]int
}

// burstClient is one client under test.
type burstClient struct {
	name string
	cfg  transport.Config
	make func() (c *http.Client, closeFn func(), err error)
}

func burstClients() []burstClient {
	var cs []burstClient
	cs = append(cs, burstClient{name: "http.DefaultTransport (clone)", make: func() (*http.Client, func(), error) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // loopback; no proxy from the environment
		return &http.Client{Transport: tr}, tr.CloseIdleConnections, nil
	}})
	for _, p := range []struct {
		name string
		cfg  transport.Config
	}{
		{"transport.LowConcurrency", transport.LowConcurrency},
		{"transport.MediumConcurrency", transport.MediumConcurrency},
		{"transport.HighConcurrency", transport.HighConcurrency},
		{"transport.Streaming", transport.Streaming},
		{"transport.LocalInference", transport.LocalInference},
	} {
		cfg := p.cfg
		cfg.Proxy = noProxy
		cs = append(cs, burstClient{name: p.name, cfg: p.cfg, make: func() (*http.Client, func(), error) {
			tr := transport.New(cfg)
			return &http.Client{Transport: tr}, tr.CloseIdleConnections, nil
		}})
	}
	cs = append(cs, burstClient{name: "llmhttp.NewClient (zero Config)", make: func() (*http.Client, func(), error) {
		c, err := llmhttp.NewClient(llmhttp.Config{})
		if err != nil {
			return nil, nil, err
		}
		return c.Client, func() { _ = c.Close() }, nil
	}})
	return cs
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// RunBurst fires opt.Calls streaming calls at once through each transport
// preset (transport.New), through a clone of http.DefaultTransport and
// through llmhttp.NewClient's zero Config, one client after the other,
// against the fake server in a child process (see ServeChild) over
// HTTP/1.1. For each it reports the connections the server accepted and the
// time-to-first-token distribution, with the raw samples.
func RunBurst(ctx context.Context, opt BurstOptions) (*BurstReport, error) {
	srv, err := startChild(ctx, testserver.Config{
		Protocol:                 testserver.HTTP1,
		TokensPerSecond:          opt.tps(),
		NominalRequestsPerMinute: 1 << 30,
		NominalTokensPerMinute:   1 << 40,
	})
	if err != nil {
		return nil, err
	}
	defer srv.close()
	rep := &BurstReport{Date: time.Now().UTC(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), Options: opt}
	for _, bc := range burstClients() {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		row, err := runBurst(ctx, srv, bc, &opt)
		if err != nil {
			return rep, fmt.Errorf("scale: burst %s: %w", bc.name, err)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

func runBurst(ctx context.Context, srv *child, bc burstClient, opt *BurstOptions) (BurstRow, error) {
	row := BurstRow{Name: bc.name, Config: bc.cfg, Errors: map[string]int{}}
	c, closeFn, err := bc.make()
	if err != nil {
		return row, err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, opt.timeout())
	defer cancel()
	s0, err := srv.stats(ctx)
	if err != nil {
		return row, err
	}
	n := opt.calls()
	body := streamBody(opt.tokens())
	target := "http://" + srv.addr + "/v1/chat/completions"
	type result struct {
		ttft time.Duration
		err  error
	}
	results := make(chan result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			ttft, err := burstCall(ctx, c, target, body, t0)
			results <- result{ttft, err}
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	row.Wall = time.Since(t0)
	close(results)
	for r := range results {
		if r.ttft > 0 {
			row.TTFT = append(row.TTFT, r.ttft)
		}
		if r.err != nil {
			row.Errors[burstErrKind(r.err)]++
			continue
		}
		row.OK++
	}
	row.TTFTDist = distOf(row.TTFT)
	closeFn()
	s1, err := srv.stats(context.WithoutCancel(ctx))
	if err != nil {
		return row, err
	}
	row.ConnsOpened = s1.ConnsAccepted - s0.ConnsAccepted
	return row, nil
}

// burstCall makes one streaming call and reads it to its end; ttft is zero
// when no token came.
func burstCall(ctx context.Context, c *http.Client, url, body string, t0 time.Time) (ttft time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return ttft, err
		}
		if ttft == 0 && isToken(ev.Data) {
			ttft = time.Since(t0)
		}
	}
}

// burstErrKind names an error for the report: its sentinel when it has a
// known one, else its text up to the first colon-separated detail.
func burstErrKind(err error) string {
	switch {
	case errors.Is(err, transport.ErrPoolTimeout):
		return "pool timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "run timeout"
	}
	return errText(err)
}
