package retry

import (
	"context"
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// New returns a middleware that retries failed calls as Config describes.
// The config is copied: later changes to cfg change nothing. Each
// RoundTripper it returns is safe for concurrent use; all of them share one
// budget (cfg.Budget, or one made here).
//
// A call goes through two paths. The first attempt is sent directly: the
// caller's request, unchanged, to the next RoundTripper, and a response whose
// status is not retried (and that carries no x-should-retry header) goes back
// at once, so a call that succeeds first time costs a budget deposit and two
// header lookups. Only when the first attempt failed in a way worth retrying
// does the call hand over to go-retryablehttp's engine, with this package's
// CheckRetry, PrepareRetry and error handler, which waits (the wait chosen
// here), rewinds the body from GetBody and drives the later attempts.
func New(cfg Config) roundtripper.Middleware {
	t := &transport{
		cfg:         cfg,
		retries:     cfg.maxRetries(),
		now:         time.Now,
		sleep:       sleepCtx,
		rand:        randN,
		peekTimeout: peekTimeout,
	}
	t.cfg.Statuses = append([]int(nil), cfg.statuses()...)
	for _, s := range t.cfg.Statuses {
		if s >= 0 && s < len(t.statuses) {
			t.statuses[s] = true
		}
	}
	switch {
	case cfg.DisableBudget:
	case cfg.Budget != nil:
		t.budget = cfg.Budget
	default:
		t.budget = NewBudget(BudgetConfig{})
	}
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			next = http.DefaultTransport
		}
		rt := *t
		rt.next = next
		return &rt
	}
}

// transport is the RoundTripper New returns.
type transport struct {
	cfg      Config
	next     http.RoundTripper
	retries  int
	statuses [600]bool
	budget   *Budget // nil: no budget

	// Injected in tests so that waits are asserted without sleeping.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	rand  func(n int64) int64 // uniform in [0, n); 0 for n <= 0

	peekTimeout time.Duration
}

var _ http.RoundTripper = (*transport)(nil)

// RoundTrip sends req, and again as Config allows while it fails in a way
// worth retrying. It returns the last response (unchanged, body unread) when
// there is one to give, and an *Error otherwise.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return t.next.RoundTrip(req)
	}
	host := req.URL.Host
	stainless, hasStainless := stainlessCount(req.Header)
	if t.budget != nil {
		t.budget.deposit(host, stainless > 0)
	}
	first := req
	if t.cfg.AddIdempotencyKey && req.Header.Get("Idempotency-Key") == "" {
		first = req.Clone(req.Context())
		first.Header.Set("Idempotency-Key", rand.Text())
	}
	trace := roundtripper.ContextTrace(req.Context())
	resp, err := t.send(first, 1, trace)
	if err == nil && t.cfg.Retryable == nil && !t.mayRetry(resp) {
		if t.cfg.OnAttempt != nil || t.cfg.Logger != nil {
			t.report(req.Context(), Attempt{Host: host, Method: req.Method, N: 1, Status: resp.StatusCode, Reason: ReasonSuccess})
		}
		return resp, nil
	}
	c := &call{
		t:            t,
		ctx:          req.Context(),
		req:          first,
		host:         host,
		trace:        trace,
		n:            1,
		stainless:    stainless,
		hasStainless: hasStainless,
		rewindable:   req.Body == nil || req.Body == http.NoBody || req.GetBody != nil,
	}
	return c.afterFirst(resp, err)
}

// mayRetry is the first attempt's fast check: could this response be
// retried? Only then is the full decision (body peek, hints) made.
func (t *transport) mayRetry(resp *http.Response) bool {
	if t.retryStatus(resp.StatusCode) {
		return true
	}
	return resp.StatusCode/100 != 2 && resp.Header["X-Should-Retry"] != nil
}

func (t *transport) retryStatus(code int) bool {
	return code >= 0 && code < len(t.statuses) && t.statuses[code]
}

// send makes attempt n of a call, and tells the trace about it.
func (t *transport) send(r *http.Request, n int, trace *roundtripper.Trace) (*http.Response, error) {
	if trace == nil {
		return t.attempt(r, n)
	}
	if trace.Attempt != nil {
		trace.Attempt(n)
	}
	resp, err := t.attempt(r, n)
	if trace.AttemptDone != nil {
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		trace.AttemptDone(n, status, err)
	}
	return resp, err
}

// attempt sends attempt n under AttemptTimeout, if set.
func (t *transport) attempt(r *http.Request, n int) (*http.Response, error) {
	timeout := t.cfg.AttemptTimeout
	if n == 1 && timeout <= 0 {
		return t.next.RoundTrip(r)
	}
	ctx := r.Context()
	if n > 1 {
		ctx = context.WithValue(ctx, attemptKey{}, n)
	}
	if timeout <= 0 {
		return t.next.RoundTrip(r.WithContext(ctx))
	}
	// The attempt's own deadline is a timer cancelling with a cause rather
	// than context.WithTimeoutCause: once the headers are in, the timer is
	// stopped and the context lives on until the body is closed, so the
	// deadline never cuts a stream (the trap of openai-go's per-attempt
	// timeout). The cause tells it apart from the caller's own deadline.
	actx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(timeout, func() { cancel(ErrAttemptTimeout) })
	resp, err := t.next.RoundTrip(r.WithContext(actx))
	if timer.Stop() {
		if err != nil || resp.Body == nil {
			cancel(nil)
			return resp, err
		}
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	if ctx.Err() != nil { // the caller's context ended as well: theirs wins
		return resp, err
	}
	if resp != nil {
		drain(resp.Body)
	}
	return nil, &attemptTimeoutError{after: timeout}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// stainlessCount reads X-Stainless-Retry-Count, the attempt counter the
// Stainless-generated SDKs (openai-go, anthropic-sdk-go) send: 0 on their
// first attempt, n on their nth retry.
func stainlessCount(h http.Header) (int, bool) {
	v := h["X-Stainless-Retry-Count"]
	if len(v) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v[0]))
	if err != nil || n < 0 {
		return 0, true
	}
	return n, true
}
