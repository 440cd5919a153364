package roundtripper_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/roundtripper"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tag returns a middleware that records its name on the way in and on the way out.
func tag(name string, log *[]string) roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			*log = append(*log, "in:"+name)
			resp, err := next.RoundTrip(req)
			*log = append(*log, "out:"+name)
			return resp, err
		})
	}
}

func TestChainOrder(t *testing.T) {
	tests := []struct {
		name string
		mws  []string
		want []string
	}{
		{"none", nil, []string{"base"}},
		{"one", []string{"a"}, []string{"in:a", "base", "out:a"}},
		{"three", []string{"a", "b", "c"}, []string{"in:a", "in:b", "in:c", "base", "out:c", "out:b", "out:a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			base := roundtripper.Func(func(*http.Request) (*http.Response, error) {
				log = append(log, "base")
				return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody}, nil
			})
			mws := make([]roundtripper.Middleware, 0, len(tt.mws))
			for _, n := range tt.mws {
				mws = append(mws, tag(n, &log))
			}
			req := httptest.NewRequest(http.MethodGet, "http://example.invalid/", nil)
			resp, err := roundtripper.Chain(base, mws...).RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			assert.Equal(t, tt.want, log)
		})
	}
}

func TestChainSkipsNilMiddleware(t *testing.T) {
	var log []string
	base := roundtripper.Func(func(*http.Request) (*http.Response, error) {
		log = append(log, "base")
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})
	rt := roundtripper.Chain(base, nil, tag("a", &log), nil)
	_, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, "http://example.invalid/", nil))
	require.NoError(t, err)
	assert.Equal(t, []string{"in:a", "base", "out:a"}, log)
}

func TestChainNilBaseIsDefaultTransport(t *testing.T) {
	assert.Same(t, http.DefaultTransport, roundtripper.Chain(nil))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()
	client := &http.Client{Transport: roundtripper.Chain(nil, func(next http.RoundTripper) http.RoundTripper { return next })}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(body))
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

type sentErr struct{ notSent, replay bool }

func (e sentErr) Error() string    { return "test error" }
func (e sentErr) NotSent() bool    { return e.notSent }
func (e sentErr) Replayable() bool { return e.replay }

func TestErrorInterfaces(t *testing.T) {
	tests := []struct {
		name              string
		err               error
		notSent, replayed bool
	}{
		{"nil", nil, false, false},
		{"plain", errors.New("boom"), false, false},
		{"not sent", sentErr{notSent: true}, true, false},
		{"wrapped not sent", fmt.Errorf("dial: %w", sentErr{notSent: true}), true, false},
		{"replayable", sentErr{replay: true}, false, true},
		{"says sent", sentErr{}, false, false},
		{"joined", errors.Join(errors.New("x"), sentErr{notSent: true, replay: true}), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.notSent, roundtripper.NotSent(tt.err))
			assert.Equal(t, tt.replayed, roundtripper.Replayable(tt.err))
		})
	}
}

// rejectErr is a refusal by policy that may wrap another error.
type rejectErr struct {
	rejected bool
	err      error
}

func (e rejectErr) Error() string  { return "rejected" }
func (e rejectErr) NotSent() bool  { return true }
func (e rejectErr) Rejected() bool { return e.rejected }
func (e rejectErr) Unwrap() error  { return e.err }

func TestRejected(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"not sent only", sentErr{notSent: true}, false},
		{"rejected", rejectErr{rejected: true}, true},
		{"wrapped", fmt.Errorf("layer: %w", rejectErr{rejected: true}), true},
		{"says not rejected", rejectErr{}, false},
		{"not rejected wrapping rejected", rejectErr{err: rejectErr{rejected: true}}, true},
		{"not rejected wrapping plain", rejectErr{err: errors.New("refused")}, false},
		{"joined", errors.Join(rejectErr{}, errors.New("x"), rejectErr{rejected: true}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, roundtripper.Rejected(tt.err))
		})
	}
}

func BenchmarkChain(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	pass := func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) { return next.RoundTrip(req) })
	}
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		client := &http.Client{Transport: rt}
		for b.Loop() {
			resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"q":1}`))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	// Bare and chained run against transports of their own, one after the
	// other in the same process, so the ratio between them is what counts.
	b.Run("bare", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
	b.Run("chain3", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		run(b, roundtripper.Chain(tr, pass, pass, pass))
	})
}

// BenchmarkChainDispatch measures the chain alone, over a base that answers
// at once: the allocations reported are those of the chaining itself.
func BenchmarkChainDispatch(b *testing.B) {
	resp := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}
	base := roundtripper.Func(func(*http.Request) (*http.Response, error) { return resp, nil })
	pass := func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) { return next.RoundTrip(req) })
	}
	rt := roundtripper.Chain(base, pass, pass, pass, pass, pass)
	req := httptest.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}
