package sse

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// maxPreBuffer bounds what the watchdog holds back while it waits for the
// first token. A server that sends this much without a content token is not
// stalled; the watchdog then hands the response over and keeps watching.
const maxPreBuffer = DefaultMaxEventSize

// preBufferSize is the first allocation for the bytes held back before the
// first token: the envelope events of every dialect fit in it.
const preBufferSize = 4 << 10

// preBuffers recycles the buffers of the bytes held back before the first
// token. The caller drains them with its first reads, so a buffer is
// needed only for a moment per stream; without the pool, opening thousands
// of streams at once allocates (and collects) one each.
var preBuffers = sync.Pool{New: func() any { b := make([]byte, 0, preBufferSize); return &b }}

// grownPre reports whether buf no longer shares the array of the pooled
// buffer *bp: appends past its capacity moved it. *bp itself is never
// written, so it always holds the pooled array.
func grownPre(bp *[]byte, buf []byte) bool { return cap(buf) != cap(*bp) }

// stream is a watched text/event-stream response body. One timer, armed for
// whichever deadline is next, is all it costs besides its scanner: progress
// only records a timestamp, and the timer, when it fires early, re-arms
// itself for the remaining time.
type stream struct {
	w      *watchdog
	l      limits
	start  time.Time
	host   string
	reqCtx context.Context
	cancel context.CancelCauseFunc // non-nil when the request runs under a context of ours
	trace  *roundtripper.Trace
	resp   *http.Response

	sc     scanner // used by the reading goroutine only
	pre    []byte  // bytes read before the first token, not yet read by the caller
	preBuf *[]byte // the pooled buffer under pre; nil once given back
	preErr error   // the error that ended the body while waiting for the first token
	final  error   // the error every Read returns once the stream has ended
	errSet bool    // the error event has been reported

	last     atomic.Int64 // time of the last content token, in ns since start
	tokens   atomic.Int64
	complete atomic.Bool // the terminal event arrived (read by Close, from any goroutine)

	mu         sync.Mutex
	body       io.ReadCloser // the transport's body; nil until the header arrives
	timer      *time.Timer
	firstSeen  bool
	reason     *StreamError // set when the timer cut the stream
	closed     bool         // the caller closed the body
	bodyClosed bool
	done       bool // the stream ended and StreamEnd was called
}

func (w *watchdog) newStream(req *http.Request, resp *http.Response, start time.Time, l limits, cancel context.CancelCauseFunc) *stream {
	s := &stream{
		w:      w,
		l:      l,
		start:  start,
		host:   req.URL.Host,
		reqCtx: req.Context(),
		cancel: cancel,
		trace:  roundtripper.ContextTrace(req.Context()),
	}
	s.sc.keepAlive = w.cfg.KeepAliveEvents
	if s.trace != nil {
		s.sc.onEvent = s.trace.StreamEvent
	}
	if resp != nil {
		s.resp, s.body = resp, resp.Body
		resp.Body = s
	}
	if l.first > 0 && cancel != nil {
		s.timer = time.AfterFunc(l.first, s.fire)
	}
	return s
}

// attach takes over the body of a response to a request that was watched
// from its start.
func (s *stream) attach(resp *http.Response) {
	s.mu.Lock()
	s.resp, s.body = resp, resp.Body
	closeNow := s.reason != nil
	s.mu.Unlock()
	resp.Body = s
	if closeNow {
		s.closeBody()
	}
}

// awaitFirstToken reads the stream until its first content token and returns
// the response, whose body replays what was read; or it fails the attempt.
func (s *stream) awaitFirstToken() (*http.Response, error) {
	if s.l.first > 0 && s.timer == nil {
		elapsed := s.w.now().Sub(s.start)
		if elapsed >= s.l.first {
			s.mu.Lock()
			s.reason = &StreamError{Err: ErrFirstTokenTimeout, Host: s.host, Waited: elapsed, replayable: true}
			s.mu.Unlock()
			return nil, s.fail(nil)
		}
		s.mu.Lock()
		s.timer = time.AfterFunc(s.l.first-elapsed, s.fire)
		s.mu.Unlock()
	}
	bp := preBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	for s.sc.tokens == 0 && !s.sc.terminal && len(buf) < maxPreBuffer {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := s.body.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			s.sc.feed(buf[len(buf) : len(buf)+n])
			buf = buf[:len(buf)+n]
		}
		if s.sc.errEvent != nil && s.sc.tokens == 0 {
			e := s.sc.errEvent
			e.Host, e.replayable = s.host, true
			preBuffers.Put(bp)
			return nil, s.fail(e)
		}
		if err == nil {
			continue
		}
		if err == io.EOF && s.reasonOrNil() == nil {
			if s.truncated() && s.sc.tokens == 0 {
				preBuffers.Put(bp)
				return nil, s.fail(&StreamError{Err: ErrTruncated, Host: s.host, replayable: true})
			}
			s.preErr = io.EOF
			break
		}
		if s.sc.tokens > 0 {
			s.preErr = err // reported to the caller after the bytes before it
			break
		}
		preBuffers.Put(bp)
		return nil, s.fail(s.readError(err, true))
	}
	s.pre = buf
	if grownPre(bp, buf) {
		preBuffers.Put(bp)
	} else {
		s.preBuf = bp // given back when the caller has read it
	}
	s.complete.Store(s.sc.terminal)
	s.tokens.Store(int64(s.sc.tokens))
	s.last.Store(int64(s.w.now().Sub(s.start)))

	s.mu.Lock()
	if s.reason != nil {
		// The timer fired as the first token came: the caller has seen
		// nothing yet, so the attempt fails as timed out.
		s.mu.Unlock()
		s.pre = nil
		if s.preBuf != nil {
			preBuffers.Put(s.preBuf)
			s.preBuf = nil
		}
		return nil, s.fail(nil)
	}
	s.firstSeen = true
	switch {
	case s.sc.terminal || s.preErr != nil || s.l.interval == 0:
		if s.timer != nil {
			s.timer.Stop()
		}
	case s.timer != nil:
		s.timer.Reset(s.l.interval)
	default:
		s.timer = time.AfterFunc(s.l.interval, s.fire)
	}
	s.mu.Unlock()
	return s.resp, nil
}

// fire runs when the timer expires: it cuts the stream when its deadline has
// really passed, and otherwise re-arms for the time that remains.
func (s *stream) fire() {
	now := s.w.now()
	s.mu.Lock()
	if s.closed || s.done || s.reason != nil {
		s.mu.Unlock()
		return
	}
	waited := now.Sub(s.start)
	var reason *StreamError
	if !s.firstSeen {
		reason = &StreamError{Err: ErrFirstTokenTimeout, Host: s.host, Waited: waited, replayable: true}
	} else {
		idle := waited - time.Duration(s.last.Load())
		if idle < s.l.interval {
			s.timer.Reset(s.l.interval - idle)
			s.mu.Unlock()
			return
		}
		reason = &StreamError{Err: ErrTokenIntervalTimeout, Host: s.host, Waited: idle, Tokens: int(s.tokens.Load())}
	}
	s.reason = reason
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel(reason)
	}
	s.closeBody()
}

func (s *stream) reasonOrNil() *StreamError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// failure returns the timer's verdict as an error, or nil.
func (s *stream) failure() error {
	if r := s.reasonOrNil(); r != nil {
		return r
	}
	return nil
}

// closeBody closes the transport's body once. For an unfinished HTTP/1.1
// body that closes the connection; for HTTP/2 it resets the stream. Either
// way nothing half-read goes back to the pool, and a Read blocked on the
// body returns.
func (s *stream) closeBody() {
	s.mu.Lock()
	body := s.body
	if body == nil || s.bodyClosed {
		s.mu.Unlock()
		return
	}
	s.bodyClosed = true
	s.mu.Unlock()
	_ = body.Close()
}

func (s *stream) stopTimer() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
}

// fail ends an attempt before its first token: the stream is cancelled and
// closed, and err (or the timer's verdict, which takes precedence) returned.
func (s *stream) fail(err error) error {
	if r := s.failure(); r != nil {
		err = r
	}
	if s.cancel != nil {
		s.cancel(err)
	}
	s.closeBody()
	s.finish(outcomeOf(err), err)
	return err
}

// finish ends the watch once: it stops the timer, releases the context and
// tells the trace how the stream ended.
func (s *stream) finish(outcome roundtripper.StreamOutcome, err error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	if s.cancel != nil {
		// The stream is over, whatever the outcome: release the context.
		s.cancel(err)
	}
	if s.trace != nil && s.trace.StreamEnd != nil {
		s.trace.StreamEnd(outcome, err)
	}
}

func outcomeOf(err error) roundtripper.StreamOutcome {
	switch {
	case err == nil || err == io.EOF:
		return roundtripper.StreamCompleted
	case errors.Is(err, ErrFirstTokenTimeout), errors.Is(err, ErrTokenIntervalTimeout):
		return roundtripper.StreamStalled
	case errors.Is(err, ErrTruncated):
		return roundtripper.StreamTruncated
	case errors.Is(err, ErrErrorEvent), errors.Is(err, ErrStreamCut):
		return roundtripper.StreamErrored
	}
	return roundtripper.StreamCancelled
}

// truncated reports whether the stream is of a known dialect and has not
// sent its terminal event.
func (s *stream) truncated() bool { return s.sc.dialect != dialectUnknown && !s.sc.terminal }

// readError maps an error from the transport's body.
func (s *stream) readError(err error, before bool) error {
	if r := s.failure(); r != nil {
		return r
	}
	if s.reqCtx.Err() != nil || s.isClosed() {
		return err // the caller gave up; nothing to report
	}
	return &StreamError{Err: ErrStreamCut, Cause: err, Host: s.host, Tokens: s.sc.tokens, replayable: before}
}

func (s *stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Read returns the stream's bytes, first those read while waiting for the
// first token, and the watchdog's errors in place of the transport's.
func (s *stream) Read(p []byte) (int, error) {
	if s.final != nil {
		return 0, s.final
	}
	if len(s.pre) > 0 {
		n := copy(p, s.pre)
		s.pre = s.pre[n:]
		if len(s.pre) == 0 {
			s.pre = nil
			if s.preBuf != nil {
				preBuffers.Put(s.preBuf)
				s.preBuf = nil
			}
		}
		return n, nil
	}
	if s.preErr != nil {
		s.final = s.end(s.preErr)
		return 0, s.final
	}
	if e := s.pendingErrorEvent(); e != nil {
		s.final = s.end(e)
		return 0, s.final
	}
	n, err := s.body.Read(p)
	if n > 0 {
		before := s.sc.tokens
		s.sc.feed(p[:n])
		if s.sc.tokens != before {
			s.tokens.Store(int64(s.sc.tokens))
			s.last.Store(int64(s.w.now().Sub(s.start)))
		}
		if s.sc.terminal {
			s.complete.Store(true)
			s.stopTimer()
		}
	}
	if err != nil {
		if e := s.pendingErrorEvent(); e != nil {
			err = e
		}
		s.final = s.end(err)
		err = s.final
	}
	return n, err
}

// pendingErrorEvent returns an error event seen after the first token and
// not yet reported, or nil. It is reported after the bytes before it.
func (s *stream) pendingErrorEvent() error {
	if s.sc.errEvent == nil || s.errSet {
		return nil
	}
	s.errSet = true
	e := s.sc.errEvent
	e.Host, e.Tokens = s.host, s.sc.tokens
	return e
}

// end maps the error that ended the body and finishes the watch.
func (s *stream) end(err error) error {
	switch {
	case s.reasonOrNil() != nil:
		err = s.reasonOrNil()
	case err == io.EOF:
		if s.truncated() {
			err = &StreamError{Err: ErrTruncated, Host: s.host, Tokens: s.sc.tokens}
		}
	case errors.Is(err, ErrErrorEvent):
	default:
		err = s.readError(err, false)
	}
	outcome := outcomeOf(err)
	if s.isClosed() {
		outcome = roundtripper.StreamCancelled
	}
	if err != io.EOF || outcome != roundtripper.StreamCompleted {
		s.finish(outcome, err)
	} else {
		s.finish(outcome, nil)
	}
	return err
}

// Close stops the watch and closes the transport's body.
func (s *stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	outcome := roundtripper.StreamCancelled
	if s.complete.Load() {
		outcome = roundtripper.StreamCompleted
	}
	s.finish(outcome, nil)
	s.closeBody()
	if s.cancel != nil {
		s.cancel(context.Canceled)
	}
	return nil
}

// cancelOnClose releases the context of a request watched from its start
// whose response turned out not to be a stream.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel(nil)
	return err
}
