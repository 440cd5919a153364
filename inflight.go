package llmhttp

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// inflight counts the calls whose response body is still open, so that
// Shutdown can wait for them.
type inflight struct {
	n    atomic.Int64
	mu   sync.Mutex
	zero chan struct{} // closed when n drops to zero while someone waits
}

func (f *inflight) done() {
	if f.n.Add(-1) == 0 {
		f.mu.Lock()
		if f.zero != nil && f.n.Load() == 0 {
			close(f.zero)
			f.zero = nil
		}
		f.mu.Unlock()
	}
}

func (f *inflight) wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		if f.n.Load() == 0 {
			f.mu.Unlock()
			return nil
		}
		if f.zero == nil {
			f.zero = make(chan struct{})
		}
		ch := f.zero
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *inflight) middleware(closing *atomic.Bool) roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			if closing.Load() {
				if req.Body != nil {
					_ = req.Body.Close()
				}
				return nil, ErrClosed
			}
			f.n.Add(1)
			resp, err := next.RoundTrip(req)
			if err != nil || resp == nil || resp.Body == nil {
				f.done()
				return resp, err
			}
			resp.Body = &doneBody{ReadCloser: resp.Body, f: f}
			return resp, nil
		})
	}
}

// doneBody calls f.done once, when the body reaches its end, fails or is
// closed. It holds f itself, not the method value f.done, which would cost
// the call an allocation of its own.
type doneBody struct {
	io.ReadCloser
	f    *inflight
	once atomic.Bool
}

func (b *doneBody) end() {
	if b.once.CompareAndSwap(false, true) {
		b.f.done()
	}
}

func (b *doneBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.end()
	}
	return n, err
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}
