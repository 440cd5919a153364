package llmhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// ErrTotalTimeout matches the error of a call cut by Timeouts.Total (or
// TotalStream for a stream).
var ErrTotalTimeout = errors.New("llmhttp: total timeout")

// ErrWriteTimeout matches the error of a call whose request could not be
// written: the connection accepted no byte for Timeouts.Write.
var ErrWriteTimeout = errors.New("llmhttp: write timeout")

// TimeoutError says which layered timeout ended a call, and after how long.
type TimeoutError struct {
	Kind  error         // ErrTotalTimeout or ErrWriteTimeout
	After time.Duration // the timeout that expired
	Err   error         // what the layer below returned
}

func (e *TimeoutError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%v after %v", e.Kind, e.After)
	}
	return fmt.Sprintf("%v after %v: %v", e.Kind, e.After, e.Err)
}

// Is makes errors.Is(err, ErrTotalTimeout) (or ErrWriteTimeout) hold, and
// context.DeadlineExceeded / os.ErrDeadlineExceeded through Unwrap.
func (e *TimeoutError) Is(target error) bool { return target == e.Kind }

func (e *TimeoutError) Unwrap() error { return e.Err }

type streamFlagKey struct{}

// streamFlag returns what the total-timeout layer found out about req, so
// that the pool router does not read the body a second time.
func streamFlag(ctx context.Context) (stream, ok bool) {
	stream, ok = ctx.Value(streamFlagKey{}).(bool)
	return stream, ok
}

// flagCtx carries the stream flag. It stands for context.WithValue so that
// it can share one allocation with the body wrapper (see timedCall); it
// hands Done, Err, Deadline and every other Value to the context it wraps,
// so contexts derived from it still find their cancelable parent and start
// no goroutine.
type flagCtx struct {
	context.Context
	stream bool
}

func (c *flagCtx) Value(key any) any {
	if _, ok := key.(streamFlagKey); ok {
		return c.stream
	}
	return c.Context.Value(key)
}

// timedCall is what the total-timeout layer allocates for a call, besides
// the deadline itself: the context carrying the stream flag, and the
// response body's wrapper.
type timedCall struct {
	ctx  flagCtx
	dl   deadlineCtx // the deadline, when the caller's context cannot be cancelled
	body cancelBody
}

// totalTimeout bounds whole calls: non-streaming ones by total, streaming
// ones by stream (when positive). The deadline covers the body too, so it is
// released only when the body is closed or read to its end. When the
// caller's own deadline comes first, no timer is set: the caller's context
// ends the call, with the caller's error.
func totalTimeout(total, stream time.Duration) roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			isStream := isStreaming(req)
			limit := total
			if isStream {
				limit = stream
			}
			parent := req.Context()
			if limit > 0 {
				if dl, ok := parent.Deadline(); ok && time.Until(dl) <= limit {
					limit = 0
				}
			}
			tc := &timedCall{ctx: flagCtx{Context: parent, stream: isStream}}
			if limit <= 0 {
				return next.RoundTrip(req.WithContext(&tc.ctx))
			}
			tc.body.limit = limit
			if parent.Done() == nil {
				tc.dl.start(parent, limit)
				tc.body.dl = &tc.dl
				tc.ctx.Context = &tc.dl
			} else {
				ctx, cancel := context.WithTimeoutCause(parent, limit, ErrTotalTimeout)
				tc.body.ctx, tc.body.cancel = ctx, cancel
				tc.ctx.Context = ctx
			}
			resp, err := next.RoundTrip(req.WithContext(&tc.ctx))
			if err != nil {
				if tc.body.timedOut() {
					err = &TimeoutError{Kind: ErrTotalTimeout, After: limit, Err: err}
				}
				tc.body.release()
				return resp, err
			}
			tc.body.ReadCloser = resp.Body
			resp.Body = &tc.body
			return resp, nil
		})
	}
}

// cancelBody releases a call's deadline when its body is done, and turns a
// read cut by that deadline into a TimeoutError.
type cancelBody struct {
	io.ReadCloser
	dl     *deadlineCtx // the deadline, or else ctx and cancel
	ctx    context.Context
	cancel context.CancelFunc
	limit  time.Duration
}

// timedOut reports whether the total timeout ended the call.
func (b *cancelBody) timedOut() bool {
	if b.dl != nil {
		return b.dl.timedOut()
	}
	return context.Cause(b.ctx) == ErrTotalTimeout
}

// release ends the call's deadline.
func (b *cancelBody) release() {
	if b.dl != nil {
		b.dl.cancel()
	} else {
		b.cancel()
	}
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		if err != io.EOF && b.timedOut() {
			err = &TimeoutError{Kind: ErrTotalTimeout, After: b.limit, Err: err}
		}
		b.release()
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// writeTimeoutDial wraps every connection dialed so that a write which makes
// no progress for d fails. net/http has no write timeout: an upload to a
// server that stopped reading would otherwise block until the caller's
// context ends. A deadline per Write bounds each stall, not the whole
// upload, so a large body on a slow but moving link is never cut.
func writeTimeoutDial(next func(ctx context.Context, network, addr string) (net.Conn, error), d time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &writeTimeoutConn{Conn: c, d: d}, nil
	}
}

type writeTimeoutConn struct {
	net.Conn
	d  time.Duration
	mu sync.Mutex // net/http writes from one goroutine per conn; HTTP/2 too, but be safe
}

func (c *writeTimeoutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.d)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = &TimeoutError{Kind: ErrWriteTimeout, After: c.d, Err: err}
	}
	return n, err
}

// NetConn returns the wrapped connection, so that the transport can reach
// the *net.TCPConn beneath to set keep-alive probes.
func (c *writeTimeoutConn) NetConn() net.Conn { return c.Conn }
