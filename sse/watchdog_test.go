package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/sse"
)

// Steps of a scripted stream: a string is written and flushed; stall blocks
// until the client goes away; pause waits a while (server-side pacing).
type (
	stall struct{}
	pause time.Duration
)

// scriptServer answers every request with the script its attempt number
// selects (the last one repeats), over HTTP/1.1 or h2c.
func scriptServer(t *testing.T, h2c bool, scripts ...[]any) (*httptest.Server, *http.Client, *atomic.Int64) {
	t.Helper()
	var attempts atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(attempts.Add(1))
		script := scripts[min(n, len(scripts))-1]
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		if len(script) > 0 {
			if ct, ok := script[0].(http.Header); ok {
				for k, v := range ct {
					w.Header()[k] = v
				}
				script = script[1:]
			}
		}
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		fl.Flush()
		for _, st := range script {
			switch st := st.(type) {
			case string:
				if _, err := io.WriteString(w, st); err != nil {
					return
				}
				fl.Flush()
			case stall:
				<-r.Context().Done()
				return
			case pause:
				select {
				case <-time.After(time.Duration(st)):
				case <-r.Context().Done():
					return
				}
			}
		}
	}))
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	tr := &http.Transport{}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv, &http.Client{Transport: tr}, &attempts
}

func chatChunk(delta string) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":null}]}` + "\n\n"
}

var (
	chatRole  = chatChunk(`{"role":"assistant","content":"","refusal":null}`)
	chatDone  = "data: [DONE]\n\n"
	chatFinal = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
)

func chatText(s string) string { return chatChunk(fmt.Sprintf(`{"content":%q}`, s)) }

func anthropicEvent(typ, data string) string { return "event: " + typ + "\ndata: " + data + "\n\n" }

var (
	anthStart   = anthropicEvent("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":5,"output_tokens":1}}}`)
	anthBlock   = anthropicEvent("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	anthPing    = anthropicEvent("ping", `{"type": "ping"}`)
	anthStopBlk = anthropicEvent("content_block_stop", `{"type":"content_block_stop","index":0}`)
	anthDelta   = anthropicEvent("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}`)
	anthStop    = anthropicEvent("message_stop", `{"type":"message_stop"}`)
)

func anthText(s string) string {
	return anthropicEvent("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, s))
}

func anthThinking(s string) string {
	return anthropicEvent("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":%q}}`, s))
}

func respEvent(typ, rest string) string {
	return "event: " + typ + "\ndata: {\"type\":\"" + typ + "\"" + rest + "}\n\n"
}

var (
	respCreated   = respEvent("response.created", `,"response":{"id":"resp_1","status":"in_progress"}`)
	respCompleted = respEvent("response.completed", `,"response":{"id":"resp_1","status":"completed"}`)
)

func respText(s string) string {
	return respEvent("response.output_text.delta", fmt.Sprintf(`,"item_id":"msg_1","output_index":0,"content_index":0,"delta":%q`, s))
}

// client returns a client whose transport is tr wrapped in mws.
func client(c *http.Client, mws ...roundtripper.Middleware) *http.Client {
	return &http.Client{Transport: roundtripper.Chain(c.Transport, mws...)}
}

func post(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

// texts decodes a stream's body and joins the text of its content deltas.
func texts(t *testing.T, body io.Reader) (string, error) {
	t.Helper()
	var b strings.Builder
	r := sse.NewReader(body)
	for ev, err := range r.All() {
		if err != nil {
			return b.String(), err
		}
		d := string(ev.Data)
		for _, key := range []string{`"content":"`, `"text":"`, `"thinking":"`, `"delta":"`} {
			if i := strings.Index(d, key); i >= 0 {
				rest := d[i+len(key):]
				b.WriteString(rest[:strings.IndexByte(rest, '"')])
			}
		}
	}
	return b.String(), nil
}

// retryReplayable is a minimal retry decorator standing in for the retry
// package: it repeats an attempt while its error is replayable.
func retryReplayable(max int) roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			for attempt := 1; ; attempt++ {
				r := req
				if attempt > 1 && req.GetBody != nil {
					body, err := req.GetBody()
					if err != nil {
						return nil, err
					}
					r = req.Clone(req.Context())
					r.Body = body
				}
				resp, err := next.RoundTrip(r)
				if err == nil || attempt > max || !roundtripper.Replayable(err) {
					return resp, err
				}
			}
		})
	}
}

var protocols = []struct {
	name string
	h2c  bool
}{{"http1", false}, {"h2c", true}}

func TestWatchdogCompleteStreams(t *testing.T) {
	tests := []struct {
		name   string
		script []any
		want   string
	}{
		{"chat", []any{chatRole, chatText("Hel"), chatText("lo"), chatFinal, chatDone}, "Hello"},
		{"anthropic", []any{anthStart, anthBlock, anthPing, anthText("Hel"), anthText("lo"), anthStopBlk, anthDelta, anthStop}, "Hello"},
		{"responses", []any{respCreated, respText("Hel"), respText("lo"), respCompleted}, "Hello"},
		{"unknown dialect", []any{"data: Hel\n\n", "data: lo\n\n"}, ""},
		{"empty completion", []any{chatRole, chatFinal, chatDone}, ""},
	}
	for _, p := range protocols {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				srv, c, _ := scriptServer(t, p.h2c, tt.script)
				wc := client(c, sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: 5 * time.Second, TokenIntervalTimeout: 5 * time.Second}))
				resp, err := post(t.Context(), wc, srv.URL)
				require.NoError(t, err)
				defer resp.Body.Close()
				got, err := texts(t, resp.Body)
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			})
		}
	}
}

func TestWatchdogFirstTokenStallRetried(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv, c, attempts := scriptServer(t, p.h2c,
				[]any{chatRole, stall{}},
				[]any{chatRole, chatText("Hel"), chatText("lo"), chatFinal, chatDone})
			wc := client(c, retryReplayable(2), sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: 300 * time.Millisecond}))
			resp, err := post(t.Context(), wc, srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := texts(t, resp.Body)
			require.NoError(t, err)
			assert.Equal(t, "Hello", got)
			assert.Equal(t, int64(2), attempts.Load())
		})
	}
}

func TestWatchdogFirstTokenTimeout(t *testing.T) {
	tests := []struct {
		name   string
		script []any
	}{
		{"silent", []any{stall{}}},
		{"envelope only", []any{chatRole, stall{}}},
		{"anthropic pings", []any{anthStart, anthBlock, anthPing, pause(50 * time.Millisecond), anthPing, pause(50 * time.Millisecond), anthPing, stall{}}},
		{"comments", []any{": keep-alive\n\n", pause(50 * time.Millisecond), ": keep-alive\n\n", stall{}}},
	}
	for _, p := range protocols {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				srv, c, _ := scriptServer(t, p.h2c, tt.script)
				wc := client(c, sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: 300 * time.Millisecond}))
				start := time.Now()
				resp, err := post(t.Context(), wc, srv.URL)
				require.Error(t, err)
				if resp != nil {
					resp.Body.Close()
				}
				assert.ErrorIs(t, err, sse.ErrFirstTokenTimeout)
				assert.True(t, roundtripper.Replayable(err), "replayable before the first token")
				assert.Less(t, time.Since(start), 3*time.Second)
				var se *sse.StreamError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, 0, se.Tokens)
			})
		}
	}
}

func TestWatchdogIntervalStall(t *testing.T) {
	tests := []struct {
		name   string
		script []any
	}{
		{"chat silent", []any{chatRole, chatText("Hel"), stall{}}},
		{"anthropic pings", []any{anthStart, anthBlock, anthText("Hel"), anthPing, pause(100 * time.Millisecond), anthPing, pause(100 * time.Millisecond), anthPing, pause(100 * time.Millisecond), anthPing, stall{}}},
		{"comments", []any{respCreated, respText("Hel"), ": keep-alive\n\n", pause(100 * time.Millisecond), ": keep-alive\n\n", stall{}}},
	}
	const interval = 400 * time.Millisecond
	for _, p := range protocols {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				srv, c, _ := scriptServer(t, p.h2c, tt.script)
				wc := client(c, sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: 5 * time.Second, TokenIntervalTimeout: interval}))
				resp, err := post(t.Context(), wc, srv.URL)
				require.NoError(t, err)
				defer resp.Body.Close()
				start := time.Now()
				got, err := texts(t, resp.Body)
				elapsed := time.Since(start)
				assert.Equal(t, "Hel", got)
				require.ErrorIs(t, err, sse.ErrTokenIntervalTimeout)
				assert.False(t, roundtripper.Replayable(err), "not replayable after the first token")
				assert.GreaterOrEqual(t, elapsed, interval-50*time.Millisecond)
				assert.Less(t, elapsed, interval+2*time.Second, "within the timeout plus a margin")
				var se *sse.StreamError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, 1, se.Tokens)
			})
		}
	}
}

func TestWatchdogLongReasoningNotCut(t *testing.T) {
	const interval = 600 * time.Millisecond
	var anth, chat []any
	anth = append(anth, anthStart, anthropicEvent("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`))
	chat = append(chat, chatRole)
	// Ten reasoning deltas 100 ms apart: a second of thinking, longer than
	// both limits, each gap a sixth of them (room for a loaded machine).
	for range 10 {
		anth = append(anth, pause(100*time.Millisecond), anthPing, anthThinking("."))
		chat = append(chat, pause(100*time.Millisecond), chatChunk(`{"reasoning_content":"."}`))
	}
	anth = append(anth, anthText("ok"), anthStopBlk, anthDelta, anthStop)
	chat = append(chat, chatText("ok"), chatFinal, chatDone)
	for name, script := range map[string][]any{"anthropic": anth, "chat": chat} {
		t.Run(name, func(t *testing.T) {
			srv, c, _ := scriptServer(t, false, script)
			wc := client(c, sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: interval, TokenIntervalTimeout: interval}))
			resp, err := post(t.Context(), wc, srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			_, err = texts(t, resp.Body)
			require.NoError(t, err)
		})
	}
}

func TestWatchdogTruncation(t *testing.T) {
	tests := []struct {
		name   string
		script []any
	}{
		{"chat", []any{chatRole, chatText("Hel"), chatFinal}},
		{"anthropic", []any{anthStart, anthBlock, anthText("Hel"), anthStopBlk, anthDelta}},
		{"responses", []any{respCreated, respText("Hel")}},
	}
	for _, p := range protocols {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				srv, c, _ := scriptServer(t, p.h2c, tt.script)
				wc := client(c, sse.Watchdog(sse.WatchdogConfig{}))
				resp, err := post(t.Context(), wc, srv.URL)
				require.NoError(t, err)
				defer resp.Body.Close()
				got, err := texts(t, resp.Body)
				assert.Equal(t, "Hel", got)
				require.ErrorIs(t, err, sse.ErrTruncated)
				assert.False(t, roundtripper.Replayable(err))
			})
			t.Run(p.name+"/"+tt.name+"/before first token", func(t *testing.T) {
				script := tt.script[:1]
				srv, c, _ := scriptServer(t, p.h2c, script)
				wc := client(c, sse.Watchdog(sse.WatchdogConfig{}))
				_, err := post(t.Context(), wc, srv.URL)
				require.ErrorIs(t, err, sse.ErrTruncated)
				assert.True(t, roundtripper.Replayable(err))
			})
		}
	}
}

func TestWatchdogErrorEvent(t *testing.T) {
	anthErr := anthropicEvent("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	chatErr := `data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}` + "\n\n"
	tests := []struct {
		name    string
		before  []any
		after   []any
		errType string
	}{
		{"anthropic", []any{anthStart, anthErr}, []any{anthStart, anthBlock, anthText("Hel"), anthErr, stall{}}, "overloaded_error"},
		{"chat", []any{chatRole, chatErr}, []any{chatRole, chatText("Hel"), chatErr, stall{}}, "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/before first token", func(t *testing.T) {
			srv, c, attempts := scriptServer(t, false, tt.before, []any{chatText("ok"), chatDone})
			_, err := post(t.Context(), client(c, sse.Watchdog(sse.WatchdogConfig{})), srv.URL)
			require.ErrorIs(t, err, sse.ErrErrorEvent)
			assert.True(t, roundtripper.Replayable(err))
			var se *sse.StreamError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.errType, se.ErrorType)

			attempts.Store(0)
			resp, err := post(t.Context(), client(c, retryReplayable(2), sse.Watchdog(sse.WatchdogConfig{})), srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := texts(t, resp.Body)
			require.NoError(t, err)
			assert.Equal(t, "ok", got)
		})
		t.Run(tt.name+"/after first token", func(t *testing.T) {
			srv, c, _ := scriptServer(t, false, tt.after)
			resp, err := post(t.Context(), client(c, sse.Watchdog(sse.WatchdogConfig{})), srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := texts(t, resp.Body)
			assert.Equal(t, "Hel", got)
			require.ErrorIs(t, err, sse.ErrErrorEvent)
			assert.False(t, roundtripper.Replayable(err))
		})
	}
}

func TestWatchdogPerRequestOverride(t *testing.T) {
	script := []any{chatRole, pause(600 * time.Millisecond), chatText("late"), chatDone}
	srv, c, _ := scriptServer(t, false, script)
	wc := client(c, sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: 200 * time.Millisecond}))

	_, err := post(t.Context(), wc, srv.URL)
	require.ErrorIs(t, err, sse.ErrFirstTokenTimeout)

	ctx := sse.WithTimeouts(t.Context(), sse.WatchdogConfig{FirstTokenTimeout: 10 * time.Second})
	resp, err := post(ctx, wc, srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := texts(t, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "late", got)
}

func TestWatchdogHeaderDelayDeclaredStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leave
		<-r.Context().Done()               // never answers
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	wc := client(&http.Client{Transport: tr}, sse.Watchdog(sse.WatchdogConfig{}))
	ctx := sse.WithTimeouts(t.Context(), sse.WatchdogConfig{FirstTokenTimeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := post(ctx, wc, srv.URL)
	require.ErrorIs(t, err, sse.ErrFirstTokenTimeout)
	assert.True(t, roundtripper.Replayable(err))
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestWatchdogEarlyClose(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			gone := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, chatRole+chatText("a"))
				w.(http.Flusher).Flush()
				for {
					select {
					case <-r.Context().Done():
						close(gone)
						return
					case <-time.After(10 * time.Millisecond):
						if _, err := io.WriteString(w, chatText("b")); err != nil {
							close(gone)
							return
						}
						w.(http.Flusher).Flush()
					}
				}
			}))
			tr := &http.Transport{}
			if p.h2c {
				srv.Config.Protocols = new(http.Protocols)
				srv.Config.Protocols.SetUnencryptedHTTP2(true)
				tr.Protocols = new(http.Protocols)
				tr.Protocols.SetUnencryptedHTTP2(true)
			}
			srv.Start()
			defer srv.Close()
			defer tr.CloseIdleConnections()
			wc := client(&http.Client{Transport: tr}, sse.Watchdog(sse.WatchdogConfig{}))
			resp, err := post(t.Context(), wc, srv.URL)
			require.NoError(t, err)
			r := sse.NewReader(resp.Body)
			_, err = r.Next()
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.NoError(t, resp.Body.Close(), "idempotent")
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("server still streaming after the body was closed")
			}
			_, err = resp.Body.Read(make([]byte, 10))
			assert.Error(t, err)
		})
	}
}

func TestWatchdogCutStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatRole+chatText("Hel"))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := post(t.Context(), client(&http.Client{Transport: tr}, sse.Watchdog(sse.WatchdogConfig{})), srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := texts(t, resp.Body)
	assert.Equal(t, "Hel", got)
	require.ErrorIs(t, err, sse.ErrStreamCut)
	assert.False(t, roundtripper.Replayable(err))
}

func TestWatchdogNonStreamUntouched(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	var inner *http.Response
	capture := func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			inner = resp
			return resp, err
		})
	}
	wc := client(&http.Client{Transport: tr}, sse.Watchdog(sse.WatchdogConfig{}), capture)
	resp, err := post(t.Context(), wc, srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Same(t, inner.Body, resp.Body, "body passed through unwrapped")
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, `{"ok":true}`, string(b))
}

func TestWatchdogTrace(t *testing.T) {
	srv, c, _ := scriptServer(t, false, []any{anthStart, anthBlock, anthPing, anthText("a"), ": c\n\n", anthText("b"), anthStopBlk, anthDelta, anthStop})
	var events, content atomic.Int64
	ended := make(chan roundtripper.StreamOutcome, 2)
	ctx := roundtripper.WithTrace(t.Context(), &roundtripper.Trace{
		StreamEvent: func(c bool) {
			events.Add(1)
			if c {
				content.Add(1)
			}
		},
		StreamEnd: func(o roundtripper.StreamOutcome, err error) { ended <- o },
	})
	resp, err := post(ctx, client(c, sse.Watchdog(sse.WatchdogConfig{})), srv.URL)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, int64(9), events.Load())
	assert.Equal(t, int64(2), content.Load())
	assert.Equal(t, roundtripper.StreamCompleted, <-ended)
	assert.Empty(t, ended, "StreamEnd once")
}

func TestWatchdogDisabled(t *testing.T) {
	srv, c, _ := scriptServer(t, false, []any{chatRole, pause(300 * time.Millisecond), chatText("a"), chatDone})
	wc := client(c, sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: -1, TokenIntervalTimeout: -1}))
	resp, err := post(t.Context(), wc, srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := texts(t, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "a", got)
}

var _ = errors.New

// TestWatchdogUndeclaredStream covers streams the watchdog learns of only
// from the response header: a GET without a body or Accept header.
func TestWatchdogUndeclaredStream(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv, c, attempts := scriptServer(t, p.h2c,
				[]any{chatRole, stall{}},
				[]any{chatRole, chatText("Hel"), chatText("lo"), stall{}})
			wc := client(c, retryReplayable(2), sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: 300 * time.Millisecond, TokenIntervalTimeout: 300 * time.Millisecond}))
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/events", nil)
			require.NoError(t, err)
			resp, err := wc.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := texts(t, resp.Body)
			assert.Equal(t, "Hello", got)
			require.ErrorIs(t, err, sse.ErrTokenIntervalTimeout)
			assert.Equal(t, int64(2), attempts.Load(), "the first attempt stalled before its first token and was retried")
		})
	}
}
