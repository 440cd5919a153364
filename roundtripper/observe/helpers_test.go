package observe_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
)

// reports collects the reports of a middleware.
type reports struct {
	ch chan *observe.Report
}

func newReports() *reports { return &reports{ch: make(chan *observe.Report, 256)} }

func (r *reports) onReport(rep *observe.Report) { r.ch <- rep }

// next waits for the next report.
func (r *reports) next(t *testing.T) *observe.Report {
	t.Helper()
	select {
	case rep := <-r.ch:
		return rep
	case <-time.After(10 * time.Second):
		t.Fatal("no report")
		return nil
	}
}

// none asserts that no report is waiting.
func (r *reports) none(t *testing.T) {
	t.Helper()
	select {
	case rep := <-r.ch:
		t.Fatalf("unexpected report: %+v", rep)
	default:
	}
}

// fakeWatchdog calls the stream hooks of roundtripper.Trace as sse.Watchdog
// does: StreamEvent for each event of an event stream (content when it
// carries a text delta), StreamEnd once when it ends.
func fakeWatchdog(next http.RoundTripper) http.RoundTripper {
	return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		tr := roundtripper.ContextTrace(req.Context())
		if tr == nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			return resp, nil
		}
		resp.Body = &watchBody{rc: resp.Body, tr: tr}
		return resp, nil
	})
}

type watchBody struct {
	rc      io.ReadCloser
	tr      *roundtripper.Trace
	mu      sync.Mutex
	line    []byte
	data    []byte
	hasData bool
	done    bool // saw [DONE] or message_stop
	ended   bool
}

func (w *watchBody) Read(p []byte) (int, error) {
	n, err := w.rc.Read(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range p[:n] {
		if b != '\n' {
			w.line = append(w.line, b)
			continue
		}
		line := bytes.TrimSuffix(w.line, []byte("\r"))
		switch {
		case len(line) == 0:
			if w.hasData {
				content := bytes.Contains(w.data, []byte(`{"content":"`)) || bytes.Contains(w.data, []byte(`"text_delta"`))
				if w.tr.StreamEvent != nil {
					w.tr.StreamEvent(content)
				}
			}
			w.hasData, w.data = false, w.data[:0]
		case bytes.HasPrefix(line, []byte("data:")):
			d := bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))
			if string(d) == "[DONE]" || bytes.Contains(d, []byte(`"message_stop"`)) {
				w.done = true
			}
			w.data = append(w.data, d...)
			w.hasData = true
		}
		w.line = w.line[:0]
	}
	if err != nil {
		switch {
		case errors.Is(err, io.EOF) && w.done:
			w.end(roundtripper.StreamCompleted, nil)
		case errors.Is(err, io.EOF):
			w.end(roundtripper.StreamTruncated, err)
		default:
			w.end(roundtripper.StreamErrored, err)
		}
	}
	return n, err
}

func (w *watchBody) end(o roundtripper.StreamOutcome, err error) {
	if !w.ended && w.tr.StreamEnd != nil {
		w.ended = true
		w.tr.StreamEnd(o, err)
	}
}

func (w *watchBody) Close() error {
	err := w.rc.Close()
	w.mu.Lock()
	w.end(roundtripper.StreamCancelled, nil)
	w.mu.Unlock()
	return err
}

// fakeRetry retries a 429 or 5xx up to max times as the retry layer does,
// calling Attempt before each attempt and RetryWait before each wait. It
// waits what retry-after-ms says.
func fakeRetry(max int) roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			tr := roundtripper.ContextTrace(req.Context())
			for n := 1; ; n++ {
				if tr != nil && tr.Attempt != nil {
					tr.Attempt(n)
				}
				r := req
				if n > 1 && req.GetBody != nil {
					body, err := req.GetBody()
					if err != nil {
						return nil, err
					}
					r = req.Clone(req.Context())
					r.Body = body
				}
				resp, err := next.RoundTrip(r)
				if err != nil || n > max || (resp.StatusCode != 429 && resp.StatusCode < 500) {
					return resp, err
				}
				ms, _ := strconv.Atoi(resp.Header.Get("retry-after-ms"))
				wait := time.Duration(ms) * time.Millisecond
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
				_ = resp.Body.Close()
				if tr != nil && tr.RetryWait != nil {
					tr.RetryWait(n, wait, "retry-after-ms")
				}
				timer := time.NewTimer(wait)
				select {
				case <-timer.C:
				case <-req.Context().Done():
					timer.Stop()
					return nil, req.Context().Err()
				}
			}
		})
	}
}

// post sends a chat completion request and reads the whole answer.
func post(t *testing.T, client *http.Client, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp, b
}
