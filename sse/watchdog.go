package sse

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// Defaults from the layered-timeout table the project follows: 15 s for the
// first streamed token, 10 s between tokens.
const (
	DefaultFirstTokenTimeout    = 15 * time.Second
	DefaultTokenIntervalTimeout = 10 * time.Second
)

// WatchdogConfig configures Watchdog. Either timeout can be replaced for one
// request with WithTimeouts.
type WatchdogConfig struct {
	// FirstTokenTimeout bounds the time from the request's start until the
	// first content token: text, tool-call arguments or reasoning, not the
	// envelope events a server sends before generation starts. Zero means
	// DefaultFirstTokenTimeout (15s); negative means no limit.
	FirstTokenTimeout time.Duration

	// TokenIntervalTimeout bounds the time between content tokens once the
	// first has arrived; comments and keep-alive events do not reset it.
	// Zero means DefaultTokenIntervalTimeout (10s); negative means no limit.
	TokenIntervalTimeout time.Duration

	// KeepAliveEvents are event types that never count as tokens, in
	// addition to comments and empty events. Nil means {"ping"}
	// (Anthropic's keep-alive); an empty non-nil slice means none.
	KeepAliveEvents []string
}

func (c WatchdogConfig) firstToken() time.Duration {
	return orDefault(c.FirstTokenTimeout, DefaultFirstTokenTimeout)
}
func (c WatchdogConfig) interval() time.Duration {
	return orDefault(c.TokenIntervalTimeout, DefaultTokenIntervalTimeout)
}

// orDefault applies the zero-means-default, negative-means-off rule; a
// result of zero means off.
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return def
	}
	return d
}

type timeoutsKey struct{}

// WithTimeouts returns a context whose requests the watchdog watches with
// cfg's timeouts instead of its own: a non-zero field replaces the
// watchdog's, a zero field keeps it, and a negative one turns that limit off
// for the request. KeepAliveEvents is not taken from cfg.
//
// A request carrying such a context is also taken to be a stream from its
// start, so its first-token timeout covers the wait for the response header
// too (see Watchdog).
func WithTimeouts(ctx context.Context, cfg WatchdogConfig) context.Context {
	return context.WithValue(ctx, timeoutsKey{}, cfg)
}

// Watchdog returns a middleware that watches text/event-stream responses for
// stalls and truncation. Other responses pass through untouched, and at no
// measurable cost: the watchdog builds no context, timer or body wrapper for
// them.
//
// For a stream, RoundTrip does not return until the first content token has
// arrived (headers and envelope events do not count). If the first-token
// timeout passes first, the stream fails, or the server sends an error event
// or ends the stream first, the attempt is cancelled and RoundTrip returns a
// *StreamError that says Replayable() == true, so a retry decorator outside
// the watchdog repeats the call and the caller never sees the failed attempt.
// The server may bill that abandoned attempt.
//
// After the first token, the body's Read fails with a *StreamError matching
// ErrTokenIntervalTimeout when no content token arrives for the token-interval
// timeout, ErrTruncated when a stream of a recognised dialect ends without its
// terminal event, ErrErrorEvent after an error event, and ErrStreamCut when the
// connection or HTTP/2 stream breaks. A cancelled stream's connection is
// closed (HTTP/1.1) or its stream reset (HTTP/2), never returned to the pool
// half-read. Closing the body stops the watch at once; no goroutine is
// started per stream and no timer outlives the response.
//
// An error of the transport before any response header (a refused or reset
// connection, a GOAWAY before the stream began) is returned as it is: it is
// the same for streams and other calls, and the retry decorator classifies it.
//
// Because a context and a timer per call would cost every non-streaming call,
// the wait for the response header is covered only for requests known to be
// streams: those whose context carries WithTimeouts, whose Accept header asks
// for text/event-stream, or that go to a chat completions, completions,
// responses or messages endpoint with a JSON body (up to 1 MiB, readable again
// through GetBody without a copy, as http.NewRequest's byte and string bodies
// are) that says "stream": true. For others, a header that arrives after the
// first-token deadline fails the attempt at once, and a server that never
// sends one is left to the transport's ResponseHeaderTimeout.
func Watchdog(cfg WatchdogConfig) roundtripper.Middleware {
	if cfg.KeepAliveEvents == nil {
		cfg.KeepAliveEvents = []string{"ping"}
	} else {
		cfg.KeepAliveEvents = append([]string{}, cfg.KeepAliveEvents...)
	}
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			next = http.DefaultTransport
		}
		return &watchdog{next: next, cfg: cfg, now: time.Now}
	}
}

type watchdog struct {
	next http.RoundTripper
	cfg  WatchdogConfig
	now  func() time.Time
}

var _ http.RoundTripper = (*watchdog)(nil)

// limits are the two timeouts in force for one request; zero means off.
type limits struct {
	first, interval time.Duration
}

func (w *watchdog) limits(ctx context.Context) (l limits, declared bool) {
	l = limits{first: w.cfg.firstToken(), interval: w.cfg.interval()}
	if o, ok := ctx.Value(timeoutsKey{}).(WatchdogConfig); ok {
		declared = true
		if o.FirstTokenTimeout != 0 {
			l.first = max(o.FirstTokenTimeout, 0)
		}
		if o.TokenIntervalTimeout != 0 {
			l.interval = max(o.TokenIntervalTimeout, 0)
		}
	}
	return l, declared
}

func (w *watchdog) RoundTrip(req *http.Request) (*http.Response, error) {
	start := w.now()
	l, declared := w.limits(req.Context())
	if l.first == 0 && l.interval == 0 {
		return w.next.RoundTrip(req)
	}
	if declared || acceptsEventStream(req.Header) || asksForStream(req) {
		return w.roundTripStream(req, start, l)
	}
	resp, err := w.next.RoundTrip(req)
	if err != nil || !isEventStream(resp) {
		return resp, err
	}
	s := w.newStream(req, resp, start, l, nil)
	return s.awaitFirstToken()
}

// roundTripStream watches a request known to be a stream from its start,
// through a context it can cancel while the header is still to come.
func (w *watchdog) roundTripStream(req *http.Request, start time.Time, l limits) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	s := w.newStream(req, nil, start, l, cancel)
	resp, err := w.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		if e := s.failure(); e != nil {
			err = e
		}
		cancel(err)
		s.finish(outcomeOf(err), err)
		return nil, err
	}
	if !isEventStream(resp) {
		// Not a stream after all: pass it through, releasing the context
		// when the caller is done with the body.
		s.stopTimer()
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	s.attach(resp)
	return s.awaitFirstToken()
}

// maxStreamFlagScan bounds the request bodies searched for "stream": true.
// Bodies of LLM calls are small next to their responses' cost; a larger body
// is left to the lazy path.
const maxStreamFlagScan = 1 << 20

// asksForStream reports whether the request's JSON body asks for a streamed
// answer ("stream": true, as OpenAI's, Anthropic's and compatible APIs take
// it). It reads the body through GetBody and only when the fresh reader can
// hand over its bytes without a copy (io.WriterTo, as the readers of
// http.NewRequest's byte and string bodies can), so it costs a small
// allocation and one scan, and never consumes the body sent.
func asksForStream(req *http.Request) bool {
	if req.GetBody == nil || req.ContentLength <= 0 || req.ContentLength > maxStreamFlagScan || !streamingEndpoint(req.URL.Path) {
		return false
	}
	rc, err := req.GetBody()
	if err != nil {
		return false
	}
	defer rc.Close()
	wt, ok := rc.(io.WriterTo)
	if !ok {
		return false
	}
	f := streamFlags.Get().(*streamFlag)
	*f = streamFlag{}
	_, _ = wt.WriteTo(f)
	found := f.found
	streamFlags.Put(f)
	return found
}

// streamingEndpoint reports whether path is one of the LLM endpoints that
// stream on "stream": true: OpenAI's (and compatible servers') chat
// completions, completions and responses, and Anthropic's messages. Other
// calls are not worth reading the body of.
func streamingEndpoint(path string) bool {
	return strings.HasSuffix(path, "/completions") || strings.HasSuffix(path, "/responses") || strings.HasSuffix(path, "/messages")
}

// streamFlags recycles the scanners of asksForStream, which escape to the
// heap through io.Writer.
var streamFlags = sync.Pool{New: func() any { return new(streamFlag) }}

// streamFlagTail is how much of one write is kept for a key split across
// writes: the key, a colon, some spaces and "true".
const streamFlagTail = 32

// streamFlag is an io.Writer that looks for "stream": true in what is
// written to it, across writes.
type streamFlag struct {
	found bool
	n     int
	tail  [streamFlagTail]byte
	join  [2 * streamFlagTail]byte
}

var streamKey = []byte(`"stream"`)

func (f *streamFlag) Write(p []byte) (int, error) {
	if f.found {
		return len(p), nil
	}
	// Look across the boundary first, in the end of what came before
	// joined with the start of this write.
	j := append(f.join[:0], f.tail[:f.n]...)
	j = append(j, p[:min(len(p), streamFlagTail)]...)
	if (f.n > 0 && hasStreamTrue(j)) || hasStreamTrue(p) {
		f.found = true
		return len(p), nil
	}
	if len(p) < streamFlagTail {
		f.n = copy(f.tail[:], j[max(0, len(j)-streamFlagTail):])
	} else {
		f.n = copy(f.tail[:], p[len(p)-streamFlagTail:])
	}
	return len(p), nil
}

func hasStreamTrue(b []byte) bool {
	for {
		i := bytes.Index(b, streamKey)
		if i < 0 {
			return false
		}
		b = b[i+len(streamKey):]
		if v, ok := afterColon(b); ok && bytes.HasPrefix(v, []byte("true")) {
			return true
		}
	}
}

func acceptsEventStream(h http.Header) bool {
	for _, v := range h["Accept"] {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// isEventStream reports whether resp is a successful text/event-stream.
func isEventStream(resp *http.Response) bool {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false
	}
	ct := resp.Header["Content-Type"]
	const es = "text/event-stream"
	return len(ct) > 0 && len(ct[0]) >= len(es) && strings.EqualFold(ct[0][:len(es)], es)
}
