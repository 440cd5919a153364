package retry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
)

func TestStatuses(t *testing.T) {
	tests := []struct {
		status   int
		attempts int64
	}{
		{400, 1}, {401, 1}, {403, 1}, {404, 1}, {422, 1},
		{408, 4}, {409, 4}, {429, 4}, {500, 4}, {502, 4}, {503, 4}, {504, 4}, {529, 4},
		{501, 1},
	}
	srv, tr := server(t, testserver.Config{})
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv.SetScript()
			before := srv.Stats().RequestsByPath["/v1/chat/completions"]
			srvDefault := testserver.Fault{Status: tt.status}
			rt, ft := newTest(t, Config{DisableBudget: true}, tr)
			req := post(t, t.Context(), srv.URL())
			b, _ := json.Marshal(srvDefault)
			req.Header.Set(testserver.FaultHeader, string(b))
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Contains(t, readAll(t, resp), `"error"`, "the last response reaches the caller whole")
			assert.Equal(t, tt.attempts, srv.Stats().RequestsByPath["/v1/chat/completions"]-before)
			assert.Len(t, ft.Waits(), int(tt.attempts-1))
		})
	}
}

func TestRecoversAfterFailures(t *testing.T) {
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: 503}, {Status: 529}}})
	rec := &recorder{}
	rt, ft := newTest(t, Config{OnAttempt: rec.hook, BaseDelay: 100 * time.Millisecond}, tr)
	resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, readAll(t, resp), "chat.completion")

	as := rec.all()
	require.Len(t, as, 3)
	for i, a := range as {
		assert.Equal(t, i+1, a.N)
		assert.Equal(t, http.MethodPost, a.Method)
		assert.Equal(t, srv.Addr(), a.Host)
	}
	assert.True(t, as[0].Retry)
	assert.Equal(t, "backoff", as[0].WaitSource)
	assert.False(t, as[2].Retry)
	assert.Equal(t, ReasonSuccess, as[2].Reason)
	// Full jitter: retry n waits in [0, BaseDelay·2^(n-1)).
	waits := ft.Waits()
	require.Len(t, waits, 2)
	assert.Less(t, waits[0], 100*time.Millisecond)
	assert.Less(t, waits[1], 200*time.Millisecond)
}

func TestBackoffFormula(t *testing.T) {
	rt, _ := newTest(t, Config{BaseDelay: time.Second, MaxDelay: 10 * time.Second}, nil)
	rt.rand = func(n int64) int64 { return n - 1 } // the top of each interval
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 80: 10 * time.Second} {
		assert.Equal(t, want-1, rt.backoff(n), "retry %d", n)
	}
	rt.rand = func(int64) int64 { return 0 }
	assert.Equal(t, time.Duration(0), rt.backoff(3), "full jitter reaches zero")
}

func TestServerHints(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		path     string
		status   int
		header   map[string]string
		min, max time.Duration // bounds of the first wait
		source   string
	}{
		{"retry-after-ms", "/v1/chat/completions", 429, map[string]string{"retry-after-ms": "1500", "Retry-After": "9"}, 1500 * time.Millisecond, 1600 * time.Millisecond, "retry-after-ms"},
		{"retry-after seconds", "/v1/chat/completions", 503, map[string]string{"Retry-After": "2"}, 2 * time.Second, 2100 * time.Millisecond, "retry-after"},
		{"retry-after date", "/v1/chat/completions", 503, map[string]string{"Retry-After": now.Add(5 * time.Second).UTC().Format(http.TimeFormat)}, 4 * time.Second, 5100 * time.Millisecond, "retry-after"},
		{"openai reset", "/v1/chat/completions", 429, map[string]string{"X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "7s", "X-Ratelimit-Remaining-Tokens": "100", "X-Ratelimit-Reset-Tokens": "20ms"}, 7 * time.Second, 7100 * time.Millisecond, "x-ratelimit-reset"},
		{"anthropic reset", "/v1/messages", 429, map[string]string{"Anthropic-Ratelimit-Requests-Remaining": "0", "Anthropic-Ratelimit-Requests-Reset": now.Add(6 * time.Second).UTC().Format(time.RFC3339)}, 5 * time.Second, 6100 * time.Millisecond, "anthropic-ratelimit-reset"},
		{"malformed", "/v1/chat/completions", 503, map[string]string{"Retry-After": "soon"}, 0, 100 * time.Millisecond, "backoff"},
		{"negative", "/v1/chat/completions", 503, map[string]string{"Retry-After": "-5", "retry-after-ms": "-3"}, 0, 100 * time.Millisecond, "backoff"},
		{"reset ignored on 503", "/v1/chat/completions", 503, map[string]string{"X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "7s"}, 0, 100 * time.Millisecond, "backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: tt.status, Header: tt.header}}})
			rec := &recorder{}
			rt, ft := newTest(t, Config{BaseDelay: 100 * time.Millisecond, OnAttempt: rec.hook}, tr)
			ft.now = now
			body := chatBody
			if tt.path == "/v1/messages" {
				body = `{"model":"claude-test","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+tt.path, strings.NewReader(body))
			require.NoError(t, err)
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			readAll(t, resp)
			waits := ft.Waits()
			require.Len(t, waits, 1)
			assert.GreaterOrEqual(t, waits[0], tt.min, "jitter never shortens a server wait")
			assert.Less(t, waits[0], tt.max)
			as := rec.all()
			require.Len(t, as, 2)
			assert.Equal(t, tt.source, as[0].WaitSource)
			assert.Equal(t, waits[0], as[0].Wait)
		})
	}
}

func TestHintOverCap(t *testing.T) {
	for _, h := range []map[string]string{
		{"Retry-After": "3600"},
		{"retry-after-ms": "90000"},
		{"Retry-After": "99999999999999999999999"},
		{"X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "6m0s"},
	} {
		srv, tr := server(t, testserver.Config{Default: testserver.Fault{Status: 429, Header: h}})
		rec := &recorder{}
		rt, ft := newTest(t, Config{OnAttempt: rec.hook}, tr)
		start := time.Now()
		resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
		require.NoError(t, err)
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the response goes back at once")
		for k, v := range h {
			assert.Equal(t, v, resp.Header.Get(k))
		}
		readAll(t, resp)
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Empty(t, ft.Waits())
		assert.Equal(t, int64(1), srv.Stats().Requests)
		as := rec.all()
		require.Len(t, as, 1)
		assert.Equal(t, ReasonOverCap, as[0].Reason)
		assert.Greater(t, as[0].Wait, DefaultMaxRetryAfter)
	}
}

func TestShouldRetryHeader(t *testing.T) {
	tests := []struct {
		name     string
		fault    testserver.Fault
		attempts int64
	}{
		{"false overrides 503", testserver.Fault{Status: 503, Header: map[string]string{"x-should-retry": "false"}}, 1},
		{"true overrides 400", testserver.Fault{Status: 400, Header: map[string]string{"x-should-retry": "true"}}, 2},
		{"true overrides quota", testserver.Fault{Status: 429, Body: "insufficient_quota", Header: map[string]string{"x-should-retry": "true"}}, 2},
		{"ignored on a success", testserver.Fault{Header: map[string]string{"x-should-retry": "true"}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, tr := server(t, testserver.Config{Script: []testserver.Fault{tt.fault}})
			rt, _ := newTest(t, Config{}, tr)
			resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, tt.attempts, srv.Stats().Requests)
		})
	}
}

func TestIdenticalBodies(t *testing.T) {
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: 500}, {Status: 502}, {Status: 503}}})
	var gets int
	rt, _ := newTest(t, Config{}, tr)
	req := post(t, t.Context(), srv.URL())
	getBody := req.GetBody
	req.GetBody = func() (io.ReadCloser, error) { gets++; return getBody() }
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	readAll(t, resp)
	reqs := srv.Requests()
	require.Len(t, reqs, 4)
	for i, r := range reqs {
		assert.Equal(t, chatBody, string(r.Body), "attempt %d", i+1)
		assert.Equal(t, strconv.Itoa(len(chatBody)), r.Header.Get("Content-Length"), "attempt %d keeps its length (not chunked)", i+1)
	}
	assert.Equal(t, 3, gets, "the body is rewound from GetBody, once per retry")
}

func TestBodyNotRewindable(t *testing.T) {
	t.Run("response", func(t *testing.T) {
		srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Status: 503}}})
		rt, _ := newTest(t, Config{}, tr)
		req := post(t, t.Context(), srv.URL())
		req.GetBody = nil
		req.Body = io.NopCloser(strings.NewReader(chatBody))
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 503, resp.StatusCode)
		readAll(t, resp)
		assert.Equal(t, int64(1), srv.Stats().Requests)
	})
	t.Run("error", func(t *testing.T) {
		srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Close: testserver.CloseBeforeHeaders}}})
		rt, _ := newTest(t, Config{RetryAmbiguous: true}, tr)
		req := post(t, t.Context(), srv.URL())
		req.GetBody = nil
		req.Body = io.NopCloser(strings.NewReader(chatBody))
		_, err := rt.RoundTrip(req)
		require.ErrorIs(t, err, ErrBodyNotRewindable)
		assert.Equal(t, int64(1), srv.Stats().Requests)
	})
}

func TestAmbiguous(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		key      bool
		attempts int64
	}{
		{"post without key", Config{}, false, 1},
		{"post with key", Config{}, true, 2},
		{"opt in", Config{RetryAmbiguous: true}, false, 2},
		{"added key", Config{AddIdempotencyKey: true}, false, 2},
	}
	for _, reset := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(tt.name+"/reset="+strconv.FormatBool(reset), func(t *testing.T) {
				srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{Close: testserver.CloseBeforeHeaders, Reset: reset}}})
				rt, _ := newTest(t, tt.cfg, tr)
				req := post(t, t.Context(), srv.URL())
				if tt.key {
					req.Header.Set("Idempotency-Key", "caller-key-1")
				}
				resp, err := rt.RoundTrip(req)
				assert.Equal(t, tt.attempts, srv.Stats().Requests)
				if tt.attempts == 1 {
					var e *Error
					require.ErrorAs(t, err, &e)
					assert.Equal(t, 1, e.Attempts)
					assert.False(t, roundtripper.NotSent(err))
					return
				}
				require.NoError(t, err)
				readAll(t, resp)
				reqs := srv.Requests()
				require.Len(t, reqs, 2)
				k := reqs[0].Header.Get("Idempotency-Key")
				assert.Equal(t, tt.key || tt.cfg.AddIdempotencyKey, k != "")
				assert.Equal(t, k, reqs[1].Header.Get("Idempotency-Key"), "the key is kept across attempts")
			})
		}
	}
}

func TestAddIdempotencyKeyLeavesCallerRequest(t *testing.T) {
	srv, tr := server(t, testserver.Config{})
	rt, _ := newTest(t, Config{AddIdempotencyKey: true}, tr)
	req := post(t, t.Context(), srv.URL())
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	assert.Empty(t, req.Header.Get("Idempotency-Key"), "the caller's request is not modified")
	assert.Len(t, srv.Requests()[0].Header.Get("Idempotency-Key"), 26)
}

func TestNotSent(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		rt, ft := newTest(t, Config{}, tr)
		_, err = rt.RoundTrip(post(t, t.Context(), "http://"+addr))
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 4, e.Attempts)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.Len(t, ft.Waits(), 3)
		assert.Contains(t, err.Error(), "gave up after 4 attempts")
		assert.NotContains(t, err.Error(), "sk-test")
	})
	tests := []struct {
		name     string
		err      error
		cfg      Config
		attempts int
	}{
		{"NotSent", sentErr{notSent: true}, Config{}, 4},
		{"Replayable", sentErr{replay: true}, Config{}, 4},
		{"Replayable off", sentErr{replay: true}, Config{NoReplay: true}, 1},
		{"dns", &net.DNSError{Err: "no such host", Name: "api.invalid", IsNotFound: true}, Config{}, 4},
		{"dial op", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("network is unreachable")}, Config{}, 4},
		{"read reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, Config{}, 1},
		{"write reset", &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}, Config{}, 4},
		{"disabled", sentErr{notSent: true}, Config{MaxRetries: -1}, 1},
		{"Rejected", sentErr{notSent: true, rejected: true}, Config{}, 1},
		{"Rejected wrapped", fmt.Errorf("layer: %w", sentErr{notSent: true, rejected: true}), Config{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			base := roundtripper.Func(func(r *http.Request) (*http.Response, error) {
				n++
				if r.Body != nil {
					_ = r.Body.Close()
				}
				return nil, tt.err
			})
			rt, _ := newTest(t, tt.cfg, base)
			_, err := rt.RoundTrip(post(t, t.Context(), "http://api.invalid"))
			require.ErrorIs(t, err, tt.err)
			assert.Equal(t, tt.attempts, n)
		})
	}
}

type sentErr struct{ notSent, replay, rejected bool }

func (e sentErr) Error() string    { return "test error" }
func (e sentErr) NotSent() bool    { return e.notSent }
func (e sentErr) Replayable() bool { return e.replay }
func (e sentErr) Rejected() bool   { return e.rejected }

func TestQuota(t *testing.T) {
	tests := []struct{ name, path, body string }{
		{"openai", "/v1/chat/completions", chatBody},
		{"anthropic", "/v1/messages", `{"model":"claude-test","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`},
	}
	codes := map[string]string{"openai": "insufficient_quota", "anthropic": "enforced_spend_limit_reached"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fault := testserver.Fault{Status: 429, Body: codes[tt.name], Header: map[string]string{"Retry-After": "1"}}
			srv, tr := server(t, testserver.Config{Default: fault})
			// The body as the server sends it, read without the decorator.
			direct, err := tr.RoundTrip(mustReq(t, srv.URL()+tt.path, tt.body))
			require.NoError(t, err)
			want := readAll(t, direct)
			require.Contains(t, want, codes[tt.name])

			rec := &recorder{}
			rt, ft := newTest(t, Config{OnAttempt: rec.hook}, tr)
			resp, err := rt.RoundTrip(mustReq(t, srv.URL()+tt.path, tt.body))
			require.NoError(t, err)
			assert.Equal(t, 429, resp.StatusCode)
			got := readAll(t, resp)
			assert.Equal(t, strings.ReplaceAll(want, "req_1", "req_2"), got, "the caller reads the same body bytes")
			assert.Empty(t, ft.Waits())
			assert.Equal(t, int64(2), srv.Stats().Requests)
			require.Len(t, rec.all(), 1)
			assert.Equal(t, ReasonQuota, rec.all()[0].Reason)
		})
	}
}

func mustReq(t testing.TB, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	return req
}

func TestLargeErrorBodyIntact(t *testing.T) {
	big := `{"error":{"message":"` + strings.Repeat("x", 10000) + `"}}`
	srv, tr := server(t, testserver.Config{Default: testserver.Fault{Status: 503, Body: big}})
	rt, _ := newTest(t, Config{MaxRetries: 1}, tr)
	resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
	require.NoError(t, err)
	assert.Equal(t, big, readAll(t, resp))
}

func TestCallerCancelDuringWait(t *testing.T) {
	for _, name := range []string{"first wait", "engine wait"} {
		t.Run(name, func(t *testing.T) {
			script := []testserver.Fault{{Status: 429, Header: map[string]string{"Retry-After": "50"}}}
			if name == "engine wait" {
				script = append([]testserver.Fault{{Status: 503, Header: map[string]string{"retry-after-ms": "1"}}}, script...)
			}
			srv, tr := server(t, testserver.Config{Script: script})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			waiting := make(chan struct{})
			rt := New(Config{OnAttempt: func(a Attempt) {
				if a.Wait > time.Second {
					close(waiting)
				}
			}})(tr)
			done := make(chan error, 1)
			go func() {
				resp, err := rt.RoundTrip(post(t, ctx, srv.URL()))
				if resp != nil {
					_ = resp.Body.Close()
				}
				done <- err
			}()
			<-waiting
			cancel()
			select {
			case err := <-done:
				require.ErrorIs(t, err, context.Canceled)
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, 429, e.Status)
				assert.Equal(t, len(script), e.Attempts)
			case <-time.After(10 * time.Second):
				t.Fatal("the call did not return after its context was cancelled")
			}
		})
	}
}

func TestDeadlineBound(t *testing.T) {
	srv, tr := server(t, testserver.Config{Default: testserver.Fault{Status: 429, Header: map[string]string{"Retry-After": "30"}}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rt, ft := newTest(t, Config{}, tr)
	start := time.Now()
	resp, err := rt.RoundTrip(post(t, ctx, srv.URL()))
	assert.Nil(t, resp)
	require.ErrorIs(t, err, ErrDeadline)
	assert.Less(t, time.Since(start), 5*time.Second)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 1, e.Attempts)
	assert.Equal(t, 429, e.Status)
	assert.GreaterOrEqual(t, e.Wait, 30*time.Second)
	assert.Equal(t, "req_1", e.RequestID)
	assert.Empty(t, ft.Waits())
	assert.Contains(t, err.Error(), "wait 30")
}

func TestCallerDeadlineNotRetried(t *testing.T) {
	srv, tr := server(t, testserver.Config{Default: testserver.Fault{HeaderDelay: time.Minute}})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	rt, _ := newTest(t, Config{RetryAmbiguous: true, AttemptTimeout: time.Hour}, tr)
	_, err := rt.RoundTrip(post(t, ctx, srv.URL()))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrAttemptTimeout)
	assert.Equal(t, int64(1), srv.Stats().Requests)
}

func TestAttemptTimeout(t *testing.T) {
	t.Run("retried with key", func(t *testing.T) {
		srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{HeaderDelay: time.Minute}}})
		rec := &recorder{}
		rt, _ := newTest(t, Config{AttemptTimeout: 200 * time.Millisecond, OnAttempt: rec.hook}, tr)
		req := post(t, t.Context(), srv.URL())
		req.Header.Set("Idempotency-Key", "k1")
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		readAll(t, resp)
		as := rec.all()
		require.Len(t, as, 2)
		assert.ErrorIs(t, as[0].Err, ErrAttemptTimeout)
		assert.NotErrorIs(t, as[0].Err, context.Canceled)
	})
	t.Run("ambiguous without key", func(t *testing.T) {
		srv, tr := server(t, testserver.Config{Script: []testserver.Fault{{HeaderDelay: time.Minute}}})
		rt, _ := newTest(t, Config{AttemptTimeout: 200 * time.Millisecond}, tr)
		_, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
		require.ErrorIs(t, err, ErrAttemptTimeout)
		assert.NotErrorIs(t, err, context.Canceled)
		assert.Equal(t, int64(1), srv.Stats().Requests)
	})
	t.Run("stream outlives it", func(t *testing.T) {
		srv, tr := server(t, testserver.Config{TokensPerSecond: 40})
		rt, _ := newTest(t, Config{AttemptTimeout: 100 * time.Millisecond}, tr)
		req := mustReq(t, srv.URL()+"/v1/chat/completions", `{"model":"m","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`)
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		body := readAll(t, resp)
		assert.Greater(t, time.Since(start), 200*time.Millisecond, "the stream took longer than the attempt timeout")
		assert.Contains(t, body, "data: [DONE]")
	})
}

func TestErrorIsCredentialFree(t *testing.T) {
	secret := "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
	srv, tr := server(t, testserver.Config{Script: []testserver.Fault{
		// Connection: close, so that net/http does not replay the keyed
		// second attempt by itself on the reused connection.
		{Status: 503, Header: map[string]string{"Connection": "close"}, Body: `{"error":{"message":"Upstream busy for key ` + secret + `, Bearer ` + "abc.def" + `"}}`},
		{Close: testserver.CloseBeforeHeaders},
	}})
	var logs strings.Builder
	rt, _ := newTest(t, Config{MaxRetries: 1, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, tr)
	req := post(t, t.Context(), srv.URL()+"/?api_key="+secret)
	req.URL.Path = "/v1/chat/completions"
	req.Header.Set("Idempotency-Key", "k")
	req.Header.Set("x-api-key", secret)
	_, err := rt.RoundTrip(req)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 2, e.Attempts)
	assert.Equal(t, 503, e.Status)
	assert.Equal(t, "req_1", e.RequestID)
	assert.Contains(t, e.Snippet, "Upstream busy")
	for _, s := range []string{err.Error(), logs.String()} {
		assert.NotContains(t, s, secret)
		assert.NotContains(t, s, "sk-test-secret")
		assert.NotContains(t, s, "abc.def")
	}
	assert.Contains(t, logs.String(), "attempt=1")
	assert.Contains(t, logs.String(), "attempt=2")
	assert.Contains(t, logs.String(), "wait_source=backoff")
}

func TestRetryableOverride(t *testing.T) {
	custom := func(resp *http.Response, err error) (bool, bool) {
		switch {
		case resp != nil && resp.StatusCode == 400:
			return true, true
		case resp != nil && resp.StatusCode == 503:
			return false, true
		}
		return false, false
	}
	tests := []struct {
		name     string
		fault    testserver.Fault
		attempts int64
	}{
		{"retries a 400", testserver.Fault{Status: 400}, 2},
		{"stops a 503", testserver.Fault{Status: 503}, 1},
		{"leaves a 502 to the rules", testserver.Fault{Status: 502}, 2},
		{"leaves a success alone", testserver.Fault{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, tr := server(t, testserver.Config{Script: []testserver.Fault{tt.fault}})
			rt, _ := newTest(t, Config{Retryable: custom}, tr)
			resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, tt.attempts, srv.Stats().Requests)
		})
	}
}
