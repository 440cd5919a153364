package ratelimit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/llmhttp/llmhttp/internal/hints"
	"github.com/llmhttp/llmhttp/roundtripper"
)

// Limiter keeps calls to LLM APIs under their request, token and
// concurrency limits. Most callers want New(cfg).Middleware(). A Limiter is
// safe for concurrent use; one Limiter may serve several clients, which then
// share its limits.
type Limiter struct {
	cfg   Config
	store Store
	now   func() time.Time // the clock; time.Now outside tests

	hosts sync.Map // key string -> *host
}

// New returns a Limiter with a copy of cfg.
func New(cfg Config) *Limiter {
	l := &Limiter{cfg: cfg, store: cfg.Store, now: time.Now}
	if l.store == nil {
		l.store = NewMemoryStore()
	}
	return l
}

// Middleware returns the limiter as a roundtripper.Middleware. Every
// RoundTripper it makes shares this Limiter's limits.
//
// It never sends a request twice and never changes a response: a 429 goes
// back to the caller as it came (retrying is the retry package's job,
// outside this one), after it has started the cooldown of its host.
func (l *Limiter) Middleware() roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			next = http.DefaultTransport
		}
		return &transport{l: l, next: next}
	}
}

type transport struct {
	l    *Limiter
	next http.RoundTripper
}

var _ http.RoundTripper = (*transport)(nil)

// host is the state of one host (or host and API key).
type host struct {
	key string // the Store key and the name in Stats
	sem *fifo  // nil without MaxConcurrent

	mu         sync.Mutex
	learnt     Rates     // limits the server's headers named
	holdUntil  time.Time // no call goes before this
	holdReason string    // "cooldown" (a 429), "requests" or "tokens" (nothing left until a reset)
	remReq     int64     // what the server last said is left; -1: never said
	remTok     int64
	stats      HostStats
}

func (l *Limiter) host(req *http.Request) *host {
	key := req.URL.Host
	if key == "" {
		key = req.Host
	}
	if l.cfg.PerKey {
		if cred := credential(req.Header); cred != "" {
			sum := sha256.Sum256([]byte(cred))
			key += " key:" + hex.EncodeToString(sum[:8])
		}
	}
	if h, ok := l.hosts.Load(key); ok {
		return h.(*host)
	}
	h := &host{key: key, remReq: -1, remTok: -1}
	if l.cfg.MaxConcurrent > 0 {
		h.sem = newFIFO(l.cfg.MaxConcurrent)
	}
	actual, _ := l.hosts.LoadOrStore(key, h)
	return actual.(*host)
}

// credential returns the API key header the request carries, if any.
func credential(h http.Header) string {
	for _, k := range [...]string{"Authorization", "X-Api-Key", "Api-Key"} {
		if v := h[k]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}

func (h *host) rates(cfg *Config) Rates {
	h.mu.Lock()
	r := h.learnt
	h.mu.Unlock()
	return cfg.override(r)
}

// override puts the Config's static limits over r, learnt from the server.
func (cfg *Config) override(r Rates) Rates {
	if cfg.RequestsPerMinute > 0 {
		r.RequestsPerMinute = int64(cfg.RequestsPerMinute)
	}
	if cfg.TokensPerMinute > 0 {
		r.TokensPerMinute = int64(cfg.TokensPerMinute)
	}
	return r
}

// hold returns how long from now the host is held back, and why.
func (h *host) hold(now time.Time) (time.Duration, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := h.holdUntil.Sub(now); d > 0 {
		return d, h.holdReason
	}
	return 0, ""
}

// admission returns, under one lock, what a call needs to know before it
// reserves: how long from now the host is held back and why (as hold
// does), and the rates in force (as rates does).
func (h *host) admission(now time.Time, cfg *Config) (time.Duration, string, Rates) {
	h.mu.Lock()
	r := h.learnt
	d, why := h.holdUntil.Sub(now), h.holdReason
	h.mu.Unlock()
	if d <= 0 {
		d, why = 0, ""
	}
	return d, why, cfg.override(r)
}

// allowed is how long a call starting at now may wait: MaxWait, or less
// when its context's deadline is nearer (byDeadline). -1 means no bound.
func (l *Limiter) allowed(ctx context.Context, now time.Time) (a time.Duration, byDeadline bool) {
	a = -1
	switch {
	case l.cfg.MaxWait > 0:
		a = l.cfg.MaxWait
	case l.cfg.MaxWait < 0:
		a = 0
	}
	if dl, ok := ctx.Deadline(); ok {
		// A call that could go only at its deadline could not go at all.
		left := max(dl.Sub(now)-time.Millisecond, 0)
		if a < 0 || left < a {
			a, byDeadline = left, true
		}
	}
	return a, byDeadline
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	l := t.l
	ctx := req.Context()
	start := l.now()
	h := l.host(req)

	out, tokens, err := l.estimate(req)
	if err != nil {
		return nil, err
	}
	// c is the whole state of this call, and later the response body's
	// wrapper, so that an uncontended call allocates once here.
	c := &call{l: l, h: h, ctx: ctx, out: out, tokens: tokens}
	c.allowed, c.byDeadline = l.allowed(ctx, start)

	after, why, rates := h.admission(start, &l.cfg)
	if c.allowed >= 0 && after > c.allowed {
		return c.reject(&LimitedError{Reason: why, Wait: after})
	}
	c.rates = rates
	g, err := l.store.Reserve(ctx, Reservation{
		Key: h.key, Now: start, After: after, Rates: c.rates,
		Requests: 1, Tokens: tokens, MaxWait: c.allowed,
	})
	if err != nil {
		return c.reject(&LimitedError{Reason: "store", Err: err})
	}
	if !g.OK {
		reason := g.Reason
		if g.Wait <= after {
			reason = why
		}
		return c.reject(&LimitedError{Reason: reason, Wait: g.Wait})
	}
	c.fallback = g.Fallback

	waited := g.Wait > 0
	if h.sem != nil && !h.sem.tryAcquire() {
		waited = true
		left := time.Duration(-1)
		if c.allowed >= 0 {
			left = max(c.allowed-l.now().Sub(start), 0)
		}
		ok, cerr := h.sem.acquire(ctx, left)
		if !ok && cerr == nil && c.byDeadline {
			cerr = context.DeadlineExceeded // it would have come in a millisecond
		}
		if !ok {
			c.giveBack()
			return c.reject(&LimitedError{Reason: "concurrency", Err: cerr})
		}
	}

	// Wait for the reservation, and for any cooldown another call's 429
	// started meanwhile.
	until := start.Add(g.Wait)
	for i := 0; ; i++ {
		// A call that had to wait for nothing is still at start: one clock
		// read fewer on the path every uncontended call takes.
		now := start
		if waited || i > 0 {
			now = l.now()
		}
		if hu, why := h.hold(now); hu > 0 && now.Add(hu).After(until) {
			waited = true
			until = now.Add(hu)
			if c.allowed >= 0 && until.Sub(start) > c.allowed {
				c.release()
				c.giveBack()
				return c.reject(&LimitedError{Reason: why, Wait: until.Sub(start)})
			}
		}
		d := until.Sub(now)
		if d <= 0 {
			break
		}
		if err := sleep(ctx, d); err != nil {
			c.release()
			c.giveBack()
			return c.reject(&LimitedError{Reason: g.Reason, Err: err, Wait: until.Sub(start)})
		}
	}

	h.mu.Lock()
	h.stats.Admitted++
	h.stats.EstimatedTokens += tokens
	if waited {
		h.stats.Waited++
		h.stats.WaitTime += l.now().Sub(start)
	}
	h.mu.Unlock()

	resp, err := t.next.RoundTrip(out)
	if err != nil {
		c.release()
		if roundtripper.NotSent(err) {
			c.giveBack()
		}
		return nil, err
	}

	now := l.now()
	remReq, remTok, held := h.observe(resp.Header, resp.StatusCode, now, &l.cfg)
	if held && l.cfg.Logger != nil {
		d, why := h.hold(now)
		l.cfg.Logger.Debug("ratelimit: host held back", "host", h.key, "for", d, "reason", why, "status", resp.StatusCode)
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode <= 299
	if !ok2xx || remReq >= 0 || remTok >= 0 {
		adj := Adjustment{
			Key: h.key, Now: now, Rates: h.rates(&l.cfg), Fallback: c.fallback,
			RemainingRequests: remReq, RemainingTokens: remTok,
		}
		if !ok2xx {
			// Rejected calls are not billed: give their tokens back.
			adj.Tokens = -tokens
		}
		l.store.Adjust(c.adjustCtx(), adj)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil {
		c.release()
		return resp, nil
	}
	c.rc, c.watch = resp.Body, ok2xx
	resp.Body = c
	return resp, nil
}

// call is the state of one call through the limiter; once the response
// arrives it wraps the response body, holding the call's concurrency slot
// until the caller has read the body to its end or closed it, and
// correcting the token estimate from the usage the body reports.
type call struct {
	l       *Limiter
	h       *host
	ctx     context.Context
	out     *http.Request
	tokens  int64
	allowed time.Duration
	rates   Rates

	byDeadline bool // allowed is set by the context's deadline
	fallback   bool

	rc    io.ReadCloser
	watch bool

	mu   sync.Mutex
	done bool
	scan usageScanner

	bg context.Context // ctx without its cancellation, made at first use
}

// adjustCtx is the context of the call's Store adjustments: the call's,
// without its cancellation, since a correction must be made even when the
// caller has gone. One per call, however many adjustments it makes.
func (c *call) adjustCtx() context.Context {
	if _, ok := c.l.store.(*MemoryStore); ok {
		// The MemoryStore never looks at the context: spare the call the
		// allocation of one.
		return c.ctx
	}
	if c.bg == nil {
		c.bg = context.WithoutCancel(c.ctx)
	}
	return c.bg
}

func (c *call) reject(e *LimitedError) (*http.Response, error) {
	closeBody(c.out)
	e.Host, e.Allowed = c.h.key, c.allowed
	c.h.mu.Lock()
	c.h.stats.Rejected++
	c.h.mu.Unlock()
	return nil, e
}

// giveBack returns what the call's reservation took: it was not sent.
func (c *call) giveBack() {
	c.l.store.Adjust(c.adjustCtx(), Adjustment{
		Key: c.h.key, Now: c.l.now(), Rates: c.rates, Requests: -1, Tokens: -c.tokens,
		Fallback: c.fallback, RemainingRequests: -1, RemainingTokens: -1,
	})
}

func (c *call) release() {
	if c.h.sem != nil {
		c.h.sem.release()
	}
}

func (c *call) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if c.watch && n > 0 {
		c.mu.Lock()
		if !c.done {
			c.scan.write(p[:n])
		}
		c.mu.Unlock()
	}
	if err != nil {
		c.finish()
	}
	return n, err
}

func (c *call) Close() error {
	err := c.rc.Close()
	c.finish()
	return err
}

func (c *call) finish() {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.done = true
	used := c.scan.usage.total()
	c.mu.Unlock()

	c.release()
	if used <= 0 {
		return
	}
	h, l := c.h, c.l
	h.mu.Lock()
	h.stats.UsedTokens += used
	h.stats.Corrected++
	learnt := h.learnt
	h.mu.Unlock()
	if d := used - c.tokens; d != 0 {
		l.store.Adjust(c.adjustCtx(), Adjustment{
			Key: h.key, Now: l.now(), Rates: l.cfg.override(learnt), Tokens: d,
			Fallback: c.fallback, RemainingRequests: -1, RemainingTokens: -1,
		})
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// estimate returns the request to send and its token estimate. It reads
// the body through GetBody when it can, so the body the transport sends is
// untouched; otherwise it reads the body once and sends a rewindable copy.
func (l *Limiter) estimate(req *http.Request) (*http.Request, int64, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, 0, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		s := scanners.Get().(*bodyScanner)
		*s = bodyScanner{}
		if err == nil {
			err = scan(s, rc)
			rc.Close()
		}
		n := s.tokens(l.cfg.defaultMaxTokens())
		scanners.Put(s)
		if err != nil {
			closeBody(req)
			return nil, 0, fmt.Errorf("ratelimit: reading request body: %w", err)
		}
		return req, n, nil
	}
	var s bodyScanner
	data, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("ratelimit: reading request body: %w", err)
	}
	s.write(data)
	out := new(http.Request)
	*out = *req
	out.ContentLength = int64(len(data))
	out.Body = io.NopCloser(bytes.NewReader(data))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return out, s.tokens(l.cfg.defaultMaxTokens()), nil
}

// scanners recycles the estimate's scanner, which a body's WriteTo would
// otherwise move to the heap on every call.
var scanners = sync.Pool{New: func() any { return new(bodyScanner) }}

var scanBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

func scan(s *bodyScanner, r io.Reader) error {
	if wt, ok := r.(io.WriterTo); ok {
		// An in-memory body (bytes.Reader, strings.Reader: what SDKs and
		// http.NewRequest give) hands its bytes over where they lie,
		// instead of being copied into a buffer first.
		_, err := wt.WriteTo(s)
		return err
	}
	bp := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		s.write(buf[:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// observe updates h from a response's headers, received at now, and
// returns what the server said is left (-1 where it said nothing) and
// whether the response started or extended a hold on the host.
//
// What it takes from them: a limit the Config leaves at zero; "nothing
// left until the reset" as a hold on the host until then; a 429's
// retry-after-ms or Retry-After (else the reset of its exhausted bucket,
// else Config.Cooldown) as a hold on the whole host. Values that make no
// sense (negative, a limit of 0, a reset of 0) are ignored, and every hold
// is capped at MaxHold, so no header can stop a host for good.
func (h *host) observe(hd http.Header, status int, now time.Time, cfg *Config) (remReq, remTok int64, held bool) {
	lim := hints.ParseLimits(hd, now)
	remReq, remTok = -1, -1
	var hold time.Duration
	reason := ""
	consider := func(b hints.Bucket, name string) {
		if b.HasLimit && b.Limit == 0 {
			return // "no limit" or nonsense (Azure); nothing to learn
		}
		if b.Exhausted() && b.HasReset && b.Reset > hold {
			hold, reason = b.Reset, name
		}
	}
	consider(lim.Requests, "requests")
	consider(lim.Tokens, "tokens")
	consider(lim.InputTokens, "tokens")
	consider(lim.OutputTokens, "tokens")
	if status == http.StatusTooManyRequests {
		d, ok := hints.RetryAfter(hd, now)
		if !ok {
			d, ok = lim.ResetHint()
		}
		if !ok && cfg.Cooldown > 0 {
			d, ok = cfg.Cooldown, true
		}
		if ok && d >= hold {
			hold, reason = d, "cooldown"
		}
	}
	hold = min(hold, cfg.maxHold())

	h.mu.Lock()
	defer h.mu.Unlock()
	if b := lim.Requests; b.HasLimit && b.Limit > 0 {
		h.learnt.RequestsPerMinute = min(b.Limit, maxTokensCap)
		h.stats.ServerRequestsLimit = b.Limit
	}
	if b := lim.Tokens; b.HasLimit && b.Limit > 0 {
		h.learnt.TokensPerMinute = min(b.Limit, maxTokensCap)
		h.stats.ServerTokensLimit = b.Limit
	}
	if b := lim.Requests; b.HasRemaining && !(b.HasLimit && b.Limit == 0) {
		remReq = b.Remaining
		h.remReq = b.Remaining
	}
	if b := lim.Tokens; b.HasRemaining && !(b.HasLimit && b.Limit == 0) {
		remTok = b.Remaining
		h.remTok = b.Remaining
	}
	if status == http.StatusTooManyRequests {
		h.stats.TooManyRequests++
	}
	if hold > 0 {
		if until := now.Add(hold); until.After(h.holdUntil) {
			h.holdUntil, h.holdReason = until, reason
			held = true
		}
	}
	return remReq, remTok, held
}
