package observe

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// A Sink receives final reports without copying them, for adapters that
// only aggregate (the Prometheus adapter in observe/prom is one).
type Sink interface {
	// Observe receives the final report of a call. It is called from the
	// goroutine that ended the call, so it must be quick and safe for
	// concurrent use, and it must not keep r, or anything r points to, once
	// it returns: observe recycles the report. Keep r.Clone() instead.
	Observe(r *Report)
}

// A ContextSink is a Sink that also wants the context of the call's
// request, such as a tracing adapter that makes its span a child of the
// caller's span (observe/otelobserve). When a sink in Config.Sinks is a
// ContextSink, observe calls ObserveContext instead of Observe, under the
// same rules; ctx is the context the caller gave the request, and may
// already be done.
type ContextSink interface {
	Sink
	ObserveContext(ctx context.Context, r *Report)
}

// Config says where reports go. The zero Config observes calls and reports
// them nowhere.
type Config struct {
	// OnReport, if not nil, is called once per call with its final report,
	// from the goroutine that ended the call (RoundTrip, or the response
	// body's Read or Close), so it must be quick. The report is a copy that
	// OnReport may keep.
	OnReport func(r *Report)

	// Sinks each receive every final report, after OnReport, without a
	// copy; see [Sink]. A [ContextSink] gets the request's context too.
	Sinks []Sink

	// Logger, if not nil, gets one line per call ("llmhttp call") and, at
	// debug level, one per attempt ("llmhttp attempt"). nil means no
	// logging.
	Logger *slog.Logger

	// LogLevel is the level of the line of a call that succeeded; zero
	// means slog.LevelInfo. The line of a call that failed (an error, a 5xx
	// or 429 status, a stream that did not complete) is logged at
	// slog.LevelWarn or LogLevel, whichever is higher.
	LogLevel slog.Level
}

// New returns a middleware that reports every call through it as
// configured. It belongs outermost in the chain, outside retry, so that one
// report covers every attempt; the layers inside it find its hooks with
// [roundtripper.ContextTrace] and [httptrace.ContextClientTrace].
func New(cfg Config) roundtripper.Middleware {
	return newObserver(cfg).middleware
}

func newObserver(cfg Config) *observer {
	o := &observer{
		onReport: cfg.OnReport,
		sinks:    append([]Sink(nil), cfg.Sinks...),
		logger:   cfg.Logger,
		level:    cfg.LogLevel,
		now:      time.Now,
		since:    time.Since,
	}
	o.pool.New = func() any { return o.newCall() }
	now := o.now()
	o.epoch.Store(&now)
	return o
}

// observer holds what every call of one middleware shares.
type observer struct {
	onReport func(*Report)
	sinks    []Sink
	logger   *slog.Logger
	level    slog.Level

	// now and since are the clock, replaced in tests.
	now   func() time.Time
	since func(time.Time) time.Duration

	// epoch is a recent reading of now; see start.
	epoch atomic.Pointer[time.Time]

	// pool recycles the per-call state with its hooks bound once, so that a
	// call pays neither for building a ClientTrace nor for its closures.
	pool sync.Pool
}

func (o *observer) middleware(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{o: o, next: next}
}

type transport struct {
	o    *observer
	next http.RoundTripper
}

var _ http.RoundTripper = (*transport)(nil)

// perCall is what one call allocates: the context carrying the hooks and
// the wrapper of the response body. They outlive the call (the caller keeps
// resp.Body and resp.Request), so they cannot be recycled with the call's
// state; both in one object cost one allocation.
type perCall struct {
	ctx  callCtx
	body body
}

// callCtx is the caller's context with observe's hooks on top. It stands
// for httptrace.WithClientTrace plus roundtripper.WithTrace, which together
// allocate five times per call (two context values, the net trace and its
// two closures): the traces context holding the hooks is built once per
// recycled call state, and Value looks there first. It is used only when the
// caller's context carries no hooks of its own, which would need composing.
//
// The caller keeps it (resp.Request.Context()) after the call state is
// recycled, so it shows the hooks only while the state is still this
// call's: gen is the state's generation when the call began.
type callCtx struct {
	context.Context
	c   *call
	gen uint64
}

func (x *callCtx) Value(key any) any {
	if x.c.gen.Load() == x.gen {
		if v := x.c.traces.Value(key); v != nil {
			return v
		}
	}
	return x.Context.Value(key)
}

// RoundTrip sends req through the next layer with observe's hooks in its
// context, and ends the call's report now if it failed, or else when the
// response body reaches EOF or is closed.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	o := t.o
	c := o.pool.Get().(*call)
	c.begin(req, o.start())

	pc := &perCall{}
	parent := req.Context()
	var ctx context.Context
	if httptrace.ContextClientTrace(parent) == nil && roundtripper.ContextTrace(parent) == nil {
		pc.ctx = callCtx{Context: parent, c: c, gen: c.gen.Load()}
		ctx = &pc.ctx
	} else {
		// WithClientTrace composes into the trace it is given, so it gets
		// a copy; WithTrace builds a new one.
		ct := c.ct
		ctx = roundtripper.WithTrace(httptrace.WithClientTrace(parent, &ct), &c.rt)
	}

	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		c.mu.Lock()
		c.r.Err = err
		c.finish(endError)
		c.mu.Unlock()
		c.deliver()
		return nil, err
	}

	c.mu.Lock()
	c.response(resp)
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		// Nothing to read (or a connection handed over): the call ends here.
		c.finish(endEOF)
		c.mu.Unlock()
		c.deliver()
		return resp, nil
	}
	c.mu.Unlock()
	pc.body = body{rc: resp.Body, c: c}
	resp.Body = &pc.body
	return resp, nil
}

// call is the state of one call in flight, recycled through observer.pool.
// Every field below mu is guarded by it: hooks run on the transport's
// goroutines and the body is read on the caller's.
type call struct {
	o *observer

	// ct and rt hold hooks bound to this call once, when it is made; traces
	// is a context carrying both, built once too. It hangs off
	// context.Background because it only carries values: callCtx takes
	// cancellation and deadlines from the caller's context.
	ct     httptrace.ClientTrace
	rt     roundtripper.Trace
	traces context.Context

	// gen counts the calls the state has served; see callCtx.
	gen atomic.Uint64

	mu       sync.Mutex
	r        Report
	attempts [4]Attempt // backing array of r.Attempts, for the usual few
	ctx      context.Context
	done     bool

	// What decides whether the state can be recycled (reuse): hooks that
	// may still come after the call ends must find it theirs. A dial may go
	// on after its request got another connection, calling its hooks late:
	// mayDial is set by any dial hook, by an HTTP/1 connection not taken
	// from the idle pool at once (a dial was queued for the request), and
	// by HTTP/2, whose GotConn cannot tell. (observe sets no WroteRequest
	// hook: the transport may call it after the response came, and it
	// would cost a clock read on every call.)
	mayDial    bool
	gots       int
	streamHook bool // a layer called StreamEvent or StreamEnd
	reuse      bool

	// endSeen says the current attempt's stream layer called StreamEnd.
	endSeen bool

	// What the body shows of a stream, for streams no layer reported on
	// (see scan): terminal and error events, the events counted at blank
	// lines, and when the caller last read.
	terminal, errEvent bool
	headOn             bool
	headN              int
	head               [32]byte
	inEvent            bool
	bodyEvents         int
	lastRead           time.Duration
}

// start returns the time now. time.Now reads two clocks, wall and
// monotonic, and on virtual machines each read costs tens of nanoseconds,
// a good part of observe's budget; so the wall time is derived from one
// monotonic reading since an epoch, re-read every second so that a step of
// the wall clock shows within a second.
func (o *observer) start() time.Time {
	e := o.epoch.Load()
	d := o.since(*e)
	if d < 0 || d > time.Second {
		now := o.now()
		o.epoch.Store(&now)
		return now
	}
	return e.Add(d)
}

// newCall makes call state with its hooks bound as method values: this is
// where the closures are allocated, once per recycled state.
func (o *observer) newCall() *call {
	c := &call{o: o}
	c.ct = httptrace.ClientTrace{
		GotConn:              c.gotConn,
		DNSStart:             c.dnsStart,
		DNSDone:              c.dnsDone,
		ConnectStart:         c.connectStart,
		ConnectDone:          c.connectDone,
		TLSHandshakeStart:    c.tlsStart,
		TLSHandshakeDone:     c.tlsDone,
		GotFirstResponseByte: c.gotFirstResponseByte,
	}
	c.rt = roundtripper.Trace{
		Attempt:     c.attempt,
		AttemptDone: c.attemptDone,
		RetryWait:   c.retryWait,
		PoolWait:    c.poolWait,
		StreamEvent: c.streamEvent,
		StreamEnd:   c.streamEnd,
	}
	c.traces = roundtripper.WithTrace(httptrace.WithClientTrace(context.Background(), &c.ct), &c.rt)
	return c
}

// begin starts the report of a call; c is fresh from the pool, so no hook
// can reach it yet.
func (c *call) begin(req *http.Request, now time.Time) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	host := req.URL.Host
	if host == "" {
		host = req.Host
	}
	c.r = Report{
		Method:       method,
		Host:         host,
		Path:         req.URL.Path,
		Start:        now,
		RequestBytes: requestBytes(req),
		Attempts:     c.attempts[:1],
	}
	c.attempts[0] = Attempt{N: 1}
	c.ctx = req.Context()
	c.done = false
	c.mayDial, c.gots, c.streamHook, c.reuse = false, 0, false, false
	c.endSeen = false
	c.terminal, c.errEvent, c.headOn, c.headN = false, false, true, 0
	c.inEvent, c.bodyEvents, c.lastRead = false, 0, 0
}

func requestBytes(req *http.Request) int64 {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return 0
	case req.ContentLength > 0:
		return req.ContentLength
	default:
		return -1
	}
}

// off is the offset of now since the call's start, at least 1ns so that a
// zero offset always means "did not happen".
func (c *call) off() time.Duration {
	return max(c.o.since(c.r.Start), 1)
}

func (c *call) cur() *Attempt { return &c.r.Attempts[len(c.r.Attempts)-1] }

// maxRequestID bounds what a server's request ID may put in a report.
const maxRequestID = 128

// response records the final response's metadata; c.mu is held.
func (c *call) response(resp *http.Response) {
	c.r.Status = resp.StatusCode
	c.r.Proto = resp.Proto
	if resp.ProtoMajor != 1 {
		c.mayDial = true
	}
	// Direct map lookups with canonical keys: no canonicalisation cost.
	id := first(resp.Header["X-Request-Id"])
	if id == "" {
		id = first(resp.Header["Request-Id"])
	}
	if len(id) > maxRequestID {
		id = id[:maxRequestID]
	}
	c.r.RequestID = id
	if ct := first(resp.Header["Content-Type"]); len(ct) >= len("text/event-stream") &&
		strings.EqualFold(ct[:len("text/event-stream")], "text/event-stream") {
		c.r.Stream = true
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Why a call ended.
type endReason int

const (
	endError endReason = iota // RoundTrip returned an error
	endEOF                    // the body reached EOF, or there was none
	endRead                   // a body read failed
	endClose                  // the body was closed before EOF
)

// finish makes the report final; c.mu is held. deliver must follow, without
// the lock.
func (c *call) finish(why endReason) {
	c.done = true
	d := c.off()
	c.r.Duration = d
	a := c.cur()
	a.End = d
	if a.Status == 0 {
		a.Status = c.r.Status
	}
	if c.streamHook {
		c.r.Stream = true
	}
	if c.endSeen {
		c.r.Outcome = a.Outcome
	} else if c.r.Stream && why != endError {
		if c.headOn && c.headN > 0 {
			c.checkHead()
		}
		c.r.Outcome = c.inferOutcome(why)
	}
	switch {
	case c.r.Tokens > 0:
		c.r.Buffered = buffered(c.r.Tokens, a.Start, c.r.FirstToken, c.r.LastToken, c.r.Gaps.Mean())
	case c.r.Stream && c.bodyEvents > 1:
		// No layer counted tokens: judge by the events as the caller read
		// them, which a buffering proxy delivers in one burst too.
		mean := (c.lastRead - c.r.FirstByte) / time.Duration(c.bodyEvents-1)
		c.r.Buffered = buffered(c.bodyEvents, a.Start, c.r.FirstByte, c.lastRead, mean)
	}
	c.reuse = c.recyclable()
}

// inferOutcome says how a stream ended from its body, when no layer did.
func (c *call) inferOutcome(why endReason) roundtripper.StreamOutcome {
	switch {
	case c.errEvent:
		return roundtripper.StreamErrored
	case c.terminal:
		return roundtripper.StreamCompleted
	case why == endEOF:
		return OutcomeUnknown
	case why == endClose || c.ctx.Err() != nil:
		return roundtripper.StreamCancelled
	default:
		return roundtripper.StreamErrored
	}
}

// recyclable says whether no hook can reach c once the call is over, so
// that it may be reused; c.mu is held. Calls that dialed (or may have),
// streamed or failed are not recycled: they are slow anyway, and a late
// hook would find a stranger's report.
func (c *call) recyclable() bool {
	return !c.mayDial && !c.r.Stream && c.r.Err == nil && c.r.Status != 0 &&
		c.gots > 0
}

// deliver hands the final report to the sinks and recycles c if it can.
func (c *call) deliver() {
	o := c.o
	r := &c.r
	if o.onReport != nil {
		o.onReport(r.Clone())
	}
	for _, s := range o.sinks {
		if cs, ok := s.(ContextSink); ok {
			cs.ObserveContext(c.ctx, r)
		} else {
			s.Observe(r)
		}
	}
	if o.logger != nil {
		o.log(c.ctx, r)
	}
	if c.reuse {
		// No hook can reach c (see recyclable), so no lock is needed. Drop
		// what the report points to, so that the pool keeps nothing alive;
		// begin overwrites the rest.
		for i := range c.r.Attempts {
			c.r.Attempts[i].RemoteAddr, c.r.Attempts[i].Err = nil, nil
		}
		c.r.Attempts, c.ctx = nil, nil
		c.gen.Add(1)
		o.pool.Put(c)
	}
}
