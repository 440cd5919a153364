package retry

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	retryablehttp "github.com/hashicorp/go-retryablehttp"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// call is the state of one call that needs more than its first attempt.
type call struct {
	t     *transport
	ctx   context.Context // the caller's
	req   *http.Request   // as the first attempt sent it (with any key added); its body is spent
	host  string
	trace *roundtripper.Trace

	n            int // attempts made so far
	stainless    int
	hasStainless bool
	rewindable   bool

	// What the last response seen said, for the Error.
	status    int
	requestID string
	snippet   string

	pending decision // the retry decided after the last attempt
	final   error    // the *Error the call ends with, once decided
}

// decision is what to do after one attempt.
type decision struct {
	retry  bool
	reason string
	wait   time.Duration
	source string
	stop   error // ErrDeadline, ErrBudgetExhausted or ErrBodyNotRewindable when one of them stopped a retry
}

// decide looks at attempt c.n's outcome: is it worth retrying, may it be,
// and after what wait.
func (c *call) decide(resp *http.Response, err error) decision {
	var d decision
	var ok bool
	if err != nil {
		ok, d.reason = c.t.classifyErr(c.req, err)
	} else {
		ok, d.reason = c.classifyResp(resp)
	}
	if f := c.t.cfg.Retryable; f != nil && d.reason != ReasonCanceled {
		if retry, decided := f(resp, err); decided {
			ok, d.reason = retry, ReasonCustom
		}
	}
	if !ok {
		return d
	}
	if c.n > c.t.retries {
		return decision{reason: ReasonExhausted}
	}
	if !c.rewindable {
		return decision{reason: ReasonNotRewindable, stop: ErrBodyNotRewindable}
	}
	now := c.t.now()
	if resp != nil {
		if w, src, ok := serverWait(resp, now); ok {
			if w > c.t.cfg.maxRetryAfter() {
				return decision{reason: ReasonOverCap, wait: w, source: src}
			}
			d.wait, d.source = c.t.hinted(w), src
		}
	}
	if d.source == "" {
		d.wait, d.source = c.t.backoff(c.n), "backoff"
	}
	if dl, ok := c.ctx.Deadline(); ok && now.Add(d.wait).After(dl) {
		return decision{reason: ReasonDeadline, wait: d.wait, source: d.source, stop: ErrDeadline}
	}
	if c.t.budget != nil && !c.t.budget.withdraw(c.host) {
		return decision{reason: ReasonBudget, stop: ErrBudgetExhausted}
	}
	d.retry = true
	return d
}

// classifyResp decides whether a response is worth retrying, ignoring
// counts, waits and budget. It peeks at the body of an error response it
// might retry (quota check, snippet) and gives it back intact.
func (c *call) classifyResp(resp *http.Response) (bool, string) {
	retry, reason := false, ReasonSuccess
	if c.t.retryStatus(resp.StatusCode) {
		retry, reason = true, ReasonStatus
	}
	if resp.StatusCode >= 400 {
		c.status = resp.StatusCode
		c.requestID = requestID(resp.Header)
		c.snippet = ""
	}
	// Like the Stainless SDKs, x-should-retry is heeded on any response
	// but a success: a paid 2xx is never thrown away.
	should := ""
	if v := resp.Header["X-Should-Retry"]; len(v) > 0 && resp.StatusCode/100 != 2 {
		should = strings.ToLower(strings.TrimSpace(v[0]))
	}
	if resp.StatusCode >= 400 && (retry || should == "true") && resp.Body != nil && resp.Body != http.NoBody {
		var body []byte
		body, resp.Body = peek(resp.Body, c.t.peekTimeout)
		c.snippet = snippet(body)
		if quotaExhausted(body) {
			retry, reason = false, ReasonQuota
		}
	}
	switch should {
	case "true":
		retry, reason = true, ReasonShouldRetry
	case "false":
		retry, reason = false, ReasonShouldRetry
	}
	return retry, reason
}

func requestID(h http.Header) string {
	for _, k := range [...]string{"X-Request-Id", "Request-Id"} {
		if v := h[k]; len(v) > 0 && len(v[0]) <= 128 {
			return v[0]
		}
	}
	return ""
}

// afterFirst continues a call whose first attempt did not simply succeed.
func (c *call) afterFirst(resp *http.Response, err error) (*http.Response, error) {
	d := c.decide(resp, err)
	c.report(resp, err, d)
	if !d.retry {
		if err == nil && d.stop != ErrDeadline {
			return resp, nil
		}
		if resp != nil {
			drain(resp.Body)
		}
		return nil, c.fail(err, d)
	}
	if resp != nil {
		drain(resp.Body)
	}
	if err := c.t.sleep(c.ctx, d.wait); err != nil {
		return nil, c.fail(err, decision{})
	}
	return c.engine()
}

// engine hands the rest of the call to go-retryablehttp. Its Backoff is
// zero and its PrepareRetry does the waiting, so that the wait is the one
// decided here and goes through the injectable sleep; its inner http.Client
// follows no redirect and its transport has no CloseIdleConnections, so the
// engine's habit of emptying the pool when it gives up does nothing.
func (c *call) engine() (*http.Response, error) {
	r := c.req.Clone(c.ctx)
	r.RequestURI = "" // http.Client refuses server-side requests (httptest.NewRequest)
	if err := c.prepare(r); err != nil {
		return nil, c.fail(err, decision{})
	}
	eng := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport:     engineTransport{c},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		RetryMax:     c.t.retries,
		CheckRetry:   c.checkRetry,
		Backoff:      func(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 },
		PrepareRetry: c.prepareRetry,
		ErrorHandler: c.errorHandler,
	}
	resp, err := eng.Do(&retryablehttp.Request{Request: r})
	if err != nil {
		if e, ok := err.(*Error); ok {
			return nil, e
		}
		if resp != nil {
			drain(resp.Body)
		}
		// The engine ends on its own only when the context ended during
		// its (zero) wait.
		return nil, c.fail(unwrapURL(err), decision{})
	}
	return resp, nil
}

// engineTransport is the engine's http.Client transport: one attempt.
type engineTransport struct{ c *call }

func (e engineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	e.c.n++
	return e.c.t.send(r, e.c.n, e.c.trace)
}

func (c *call) checkRetry(_ context.Context, resp *http.Response, err error) (bool, error) {
	err = unwrapURL(err)
	d := c.decide(resp, err)
	c.report(resp, err, d)
	if d.retry {
		c.pending = d
		return true, nil
	}
	if err != nil || d.stop == ErrDeadline {
		if resp != nil {
			drain(resp.Body)
		}
		c.final = c.fail(err, d)
		return false, c.final
	}
	return false, nil
}

func (c *call) prepareRetry(r *http.Request) error {
	if err := c.t.sleep(c.ctx, c.pending.wait); err != nil {
		c.final = c.fail(err, decision{})
		return c.final
	}
	if err := c.prepare(r); err != nil {
		c.final = c.fail(err, decision{})
		return c.final
	}
	return nil
}

// prepare readies r for attempt c.n+1: a fresh copy of the body, and the
// true attempt number in X-Stainless-Retry-Count when the caller sent one.
func (c *call) prepare(r *http.Request) error {
	if c.req.GetBody != nil {
		body, err := c.req.GetBody()
		if err != nil {
			return err
		}
		r.Body = body
	}
	if c.hasStainless {
		r.Header = r.Header.Clone()
		r.Header.Set("X-Stainless-Retry-Count", strconv.Itoa(c.stainless+c.n))
	}
	return nil
}

func (c *call) errorHandler(resp *http.Response, err error, _ int) (*http.Response, error) {
	if c.final != nil {
		return nil, c.final
	}
	if err == nil && resp != nil {
		return resp, nil
	}
	if resp != nil {
		drain(resp.Body)
	}
	return nil, c.fail(unwrapURL(err), decision{})
}

// fail builds the error a call ends with.
func (c *call) fail(err error, d decision) *Error {
	e := &Error{
		Host:      c.host,
		Attempts:  c.n,
		Status:    c.status,
		RequestID: c.requestID,
		Snippet:   c.snippet,
		Reason:    d.stop,
		Err:       err,
	}
	if errors.Is(d.stop, ErrDeadline) {
		e.Wait = d.wait
	}
	return e
}

// report tells the trace, the hook and the logger about attempt c.n.
func (c *call) report(resp *http.Response, err error, d decision) {
	if d.retry && c.trace != nil && c.trace.RetryWait != nil {
		c.trace.RetryWait(c.n, d.wait, d.source)
	}
	if c.t.cfg.OnAttempt == nil && c.t.cfg.Logger == nil {
		return
	}
	a := Attempt{
		Host:   c.host,
		Method: c.req.Method,
		N:      c.n,
		Err:    err,
		Retry:  d.retry,
		Reason: d.reason,
	}
	if resp != nil {
		a.Status = resp.StatusCode
	}
	if d.source != "" {
		a.Wait, a.WaitSource = d.wait, d.source
	}
	c.t.report(c.ctx, a)
}
