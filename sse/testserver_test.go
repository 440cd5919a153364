package sse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/sse"
)

// The watchdog against the shared fake LLM server, per dialect and protocol.

type api struct {
	name, path, body string
	text             func(data []byte) string // the text a content event carries
}

var apis = []api{
	{"chat", "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		func(data []byte) string {
			var c struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if json.Unmarshal(data, &c) != nil || len(c.Choices) == 0 {
				return ""
			}
			return c.Choices[0].Delta.Content
		}},
	{"anthropic", "/v1/messages", `{"model":"claude","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`,
		func(data []byte) string {
			var e struct {
				Type  string `json:"type"`
				Delta struct {
					Type, Text string
				} `json:"delta"`
			}
			if json.Unmarshal(data, &e) != nil || e.Type != "content_block_delta" || e.Delta.Type != "text_delta" {
				return ""
			}
			return e.Delta.Text
		}},
	{"responses", "/v1/responses", `{"model":"gpt-4o","stream":true,"input":"hi"}`,
		func(data []byte) string {
			var e struct{ Type, Delta string }
			if json.Unmarshal(data, &e) != nil || e.Type != "response.output_text.delta" {
				return ""
			}
			return e.Delta
		}},
}

var tsProtocols = []struct {
	name string
	p    testserver.Protocol
}{{"http1", testserver.HTTP1}, {"h2c", testserver.H2C}}

func (a api) do(ctx context.Context, t *testing.T, c *http.Client, base string, fault *testserver.Fault) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+a.path, strings.NewReader(a.body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if fault != nil {
		b, err := json.Marshal(fault)
		require.NoError(t, err)
		req.Header.Set(testserver.FaultHeader, string(b))
	}
	return c.Do(req)
}

// read decodes a watched stream and returns its text and the error that
// ended it (nil at a clean end).
func (a api) read(body io.Reader) (string, error) {
	var b strings.Builder
	for ev, err := range sse.NewReader(body).All() {
		if err != nil {
			return b.String(), err
		}
		b.WriteString(a.text(ev.Data))
	}
	return b.String(), nil
}

func watched(srv *testserver.Server, cfg sse.WatchdogConfig, outer ...roundtripper.Middleware) (*http.Client, func()) {
	tr := srv.Transport()
	mws := append(outer, sse.Watchdog(cfg))
	return &http.Client{Transport: roundtripper.Chain(tr, mws...)}, tr.CloseIdleConnections
}

func TestTestserverComplete(t *testing.T) {
	for _, p := range tsProtocols {
		for _, a := range apis {
			t.Run(p.name+"/"+a.name, func(t *testing.T) {
				srv := testserver.New(t, testserver.Config{Protocol: p.p})
				c, done := watched(srv, sse.WatchdogConfig{FirstTokenTimeout: 5 * time.Second, TokenIntervalTimeout: 5 * time.Second})
				defer done()
				resp, err := a.do(t.Context(), t, c, srv.URL(), &testserver.Fault{Reasoning: 3})
				require.NoError(t, err)
				defer resp.Body.Close()
				got, err := a.read(resp.Body)
				require.NoError(t, err)
				assert.Equal(t, testserver.Text(testserver.DefaultTokens), got)
			})
		}
	}
}

func TestTestserverFirstTokenStallRetried(t *testing.T) {
	// The retry package is written concurrently; retryReplayable stands in
	// for it, retrying exactly what roundtripper.Replayable says.
	for _, p := range tsProtocols {
		for _, a := range apis {
			t.Run(p.name+"/"+a.name, func(t *testing.T) {
				srv := testserver.New(t, testserver.Config{Protocol: p.p})
				srv.SetScript(testserver.Fault{FirstTokenDelay: time.Minute})
				c, done := watched(srv, sse.WatchdogConfig{FirstTokenTimeout: 300 * time.Millisecond}, retryReplayable(2))
				defer done()
				resp, err := a.do(t.Context(), t, c, srv.URL(), nil)
				require.NoError(t, err)
				defer resp.Body.Close()
				got, err := a.read(resp.Body)
				require.NoError(t, err)
				assert.Equal(t, testserver.Text(testserver.DefaultTokens), got, "the caller receives the full text")
				assert.Equal(t, int64(2), srv.Stats().Requests)
			})
		}
	}
}

func TestTestserverMidStreamStall(t *testing.T) {
	const interval = 400 * time.Millisecond
	modes := []struct {
		name string
		mode testserver.StallMode
	}{{"silent", testserver.StallSilent}, {"comments", testserver.StallComments}, {"pings", testserver.StallPings}}
	for _, p := range tsProtocols {
		for _, a := range apis {
			for _, m := range modes {
				t.Run(p.name+"/"+a.name+"/"+m.name, func(t *testing.T) {
					srv := testserver.New(t, testserver.Config{Protocol: p.p})
					c, done := watched(srv, sse.WatchdogConfig{FirstTokenTimeout: 5 * time.Second, TokenIntervalTimeout: interval})
					defer done()
					resp, err := a.do(t.Context(), t, c, srv.URL(), &testserver.Fault{StallAfter: 3, StallMode: m.mode, StallEvery: 50 * time.Millisecond})
					require.NoError(t, err)
					defer resp.Body.Close()
					start := time.Now()
					got, err := a.read(resp.Body)
					elapsed := time.Since(start)
					assert.Equal(t, testserver.Text(3), got)
					require.ErrorIs(t, err, sse.ErrTokenIntervalTimeout)
					assert.False(t, roundtripper.Replayable(err))
					assert.Less(t, elapsed, interval+2*time.Second, "typed error within the timeout plus a margin")
				})
			}
		}
	}
}

func TestTestserverCancelledConnectionNotPooled(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Protocol: testserver.HTTP1})
	c, done := watched(srv, sse.WatchdogConfig{TokenIntervalTimeout: 200 * time.Millisecond})
	defer done()
	a := apis[0]
	resp, err := a.do(t.Context(), t, c, srv.URL(), &testserver.Fault{StallAfter: 2})
	require.NoError(t, err)
	_, err = a.read(resp.Body)
	require.ErrorIs(t, err, sse.ErrTokenIntervalTimeout)
	require.NoError(t, resp.Body.Close())

	resp, err = a.do(t.Context(), t, c, srv.URL(), nil)
	require.NoError(t, err)
	_, err = a.read(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.NotEqual(t, reqs[0].ConnID, reqs[1].ConnID, "the cut connection was not reused")
	require.Eventually(t, func() bool { return srv.Stats().ConnsClosed >= 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestTestserverLongReasoning(t *testing.T) {
	// 20 reasoning deltas at 20 per second: a second of thinking, 2.5 times
	// both timeouts, before the first text token.
	const limit = 400 * time.Millisecond
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{})
			c, done := watched(srv, sse.WatchdogConfig{FirstTokenTimeout: limit, TokenIntervalTimeout: limit})
			defer done()
			resp, err := a.do(t.Context(), t, c, srv.URL(), &testserver.Fault{Reasoning: 20, TokensPerSecond: 20})
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := a.read(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, testserver.Text(testserver.DefaultTokens), got)
		})
	}
}

func TestTestserverTruncation(t *testing.T) {
	for _, p := range tsProtocols {
		for _, a := range apis {
			t.Run(p.name+"/"+a.name, func(t *testing.T) {
				srv := testserver.New(t, testserver.Config{Protocol: p.p})
				c, done := watched(srv, sse.WatchdogConfig{})
				defer done()
				resp, err := a.do(t.Context(), t, c, srv.URL(), &testserver.Fault{Truncate: true})
				require.NoError(t, err)
				defer resp.Body.Close()
				got, err := a.read(resp.Body)
				assert.Equal(t, testserver.Text(testserver.DefaultTokens), got)
				require.ErrorIs(t, err, sse.ErrTruncated)
				assert.False(t, roundtripper.Replayable(err))
			})
		}
	}
}

func TestTestserverErrorEventRetried(t *testing.T) {
	for _, a := range apis[:2] {
		t.Run(a.name, func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{})
			srv.SetScript(testserver.Fault{ErrorEvent: true})
			c, done := watched(srv, sse.WatchdogConfig{})
			defer done()
			_, err := a.do(t.Context(), t, c, srv.URL(), nil)
			require.ErrorIs(t, err, sse.ErrErrorEvent)
			assert.True(t, roundtripper.Replayable(err))

			srv.SetScript(testserver.Fault{ErrorEvent: true})
			c, done2 := watched(srv, sse.WatchdogConfig{}, retryReplayable(2))
			defer done2()
			resp, err := a.do(t.Context(), t, c, srv.URL(), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := a.read(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, testserver.Text(testserver.DefaultTokens), got)
		})
	}
}

func TestTestserverPerRequestOverride(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	c, done := watched(srv, sse.WatchdogConfig{FirstTokenTimeout: 200 * time.Millisecond})
	defer done()
	a := apis[1]
	fault := &testserver.Fault{FirstTokenDelay: 700 * time.Millisecond}
	_, err := a.do(t.Context(), t, c, srv.URL(), fault)
	require.ErrorIs(t, err, sse.ErrFirstTokenTimeout)

	ctx := sse.WithTimeouts(t.Context(), sse.WatchdogConfig{FirstTokenTimeout: 10 * time.Second})
	resp, err := a.do(ctx, t, c, srv.URL(), fault)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := a.read(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, testserver.Text(testserver.DefaultTokens), got)
}

func TestTestserverHeaderDelay(t *testing.T) {
	// A stream is known before its header comes from WithTimeouts or from
	// the "stream": true of its body; either way a server that holds the
	// header back is cut at the first-token timeout.
	for _, declared := range []bool{false, true} {
		t.Run(fmt.Sprint("declared=", declared), func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{})
			c, done := watched(srv, sse.WatchdogConfig{FirstTokenTimeout: 300 * time.Millisecond})
			defer done()
			ctx := t.Context()
			if declared {
				ctx = sse.WithTimeouts(ctx, sse.WatchdogConfig{})
			}
			start := time.Now()
			_, err := apis[0].do(ctx, t, c, srv.URL(), &testserver.Fault{HeaderDelay: time.Minute})
			require.ErrorIs(t, err, sse.ErrFirstTokenTimeout)
			assert.True(t, roundtripper.Replayable(err))
			assert.Less(t, time.Since(start), 3*time.Second)
		})
	}
}

func TestTestserverEarlyClose(t *testing.T) {
	for _, p := range tsProtocols {
		t.Run(p.name, func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{Protocol: p.p, TokensPerSecond: 50})
			c, done := watched(srv, sse.WatchdogConfig{})
			defer done()
			resp, err := apis[0].do(t.Context(), t, c, srv.URL(), &testserver.Fault{})
			require.NoError(t, err)
			_, err = sse.NewReader(resp.Body).Next()
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Eventually(t, func() bool { return srv.Stats().InFlight == 0 }, 5*time.Second, 10*time.Millisecond,
				"the server saw the stream end")
		})
	}
}

func TestTestserverCut(t *testing.T) {
	for _, p := range tsProtocols {
		t.Run(p.name+"/before first token", func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{Protocol: p.p})
			srv.SetScript(testserver.Fault{Close: testserver.CloseAfterHeaders, Reset: true})
			c, done := watched(srv, sse.WatchdogConfig{}, retryReplayable(2))
			defer done()
			resp, err := apis[0].do(t.Context(), t, c, srv.URL(), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := apis[0].read(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, testserver.Text(testserver.DefaultTokens), got)
			assert.Equal(t, int64(2), srv.Stats().Requests)
		})
		t.Run(p.name+"/mid-stream", func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{Protocol: p.p})
			c, done := watched(srv, sse.WatchdogConfig{})
			defer done()
			resp, err := apis[0].do(t.Context(), t, c, srv.URL(), &testserver.Fault{Close: testserver.CloseMidStream, StallAfter: 4, Reset: true})
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := apis[0].read(resp.Body)
			assert.Equal(t, testserver.Text(4), got)
			require.Error(t, err)
			assert.False(t, roundtripper.Replayable(err))
			assert.ErrorIs(t, err, sse.ErrStreamCut, fmt.Sprint(err))
		})
	}
}

func TestTestserverCompletedConnectionReused(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Protocol: testserver.HTTP1})
	c, done := watched(srv, sse.WatchdogConfig{})
	defer done()
	for range 2 {
		resp, err := apis[0].do(t.Context(), t, c, srv.URL(), nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, reqs[0].ConnID, reqs[1].ConnID, "a stream read to its end leaves its connection to the pool")
}
