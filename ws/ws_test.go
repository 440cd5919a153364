package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/ws"
)

// margin absorbs a loaded machine: 2 cores shared by many test runs.
const margin = 2 * time.Second

func TestRealtimeFlow(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := newEnv(t, p.proto, testserver.Config{TokensPerSecond: 500})
			c := e.dial(t, ws.Config{Header: http.Header{"Authorization": {"Bearer sk-secret"}, "OpenAI-Beta": {"realtime=v1"}}})
			assert.EqualValues(t, 1, e.dials.Load(), "the handshake goes through the caller's dialer")
			assert.Equal(t, 1, c.Session().ID)

			readType(t, c, "session.created")
			ctx := t.Context()
			require.NoError(t, c.WriteJSON(ctx, map[string]any{"type": "session.update", "session": map[string]any{"instructions": "be brief"}}))
			var upd struct {
				Session struct{ Instructions string } `json:"session"`
			}
			typ, err := c.ReadJSON(ctx, &upd)
			require.NoError(t, err)
			assert.Equal(t, "session.updated", typ)
			assert.Equal(t, "be brief", upd.Session.Instructions)

			require.NoError(t, c.WriteJSON(ctx, map[string]any{"type": "response.create", "response": map[string]any{"max_output_tokens": 8}}))
			var text strings.Builder
			for {
				var ev struct{ Delta string }
				typ, err := c.ReadJSON(ctx, &ev)
				require.NoError(t, err)
				if typ == "response.output_text.delta" {
					text.WriteString(ev.Delta)
				}
				if typ == "response.done" {
					break
				}
			}
			assert.Equal(t, testserver.Text(8), text.String())

			reqs := e.srv.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, "Bearer sk-secret", reqs[0].Header.Get("Authorization"))
			assert.Equal(t, "HTTP/1.1", reqs[0].Proto)
			require.NoError(t, c.Close())
			require.NoError(t, c.Close(), "Close is idempotent")
			_, _, err = c.Read(ctx)
			assert.ErrorIs(t, err, ws.ErrClosed)
			assert.ErrorIs(t, c.WriteJSON(ctx, map[string]any{"type": "x"}), ws.ErrClosed)
		})
	}
}

func TestDeadPeer(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := newEnv(t, p.proto, testserver.Config{})
			e.srv.SetRealtimeScript(testserver.RealtimeFault{Deaf: true})
			start := time.Now()
			c := e.dial(t, ws.Config{PingInterval: interval, PingTimeout: timeout})
			err, at := readErr(t, c)
			assert.ErrorIs(t, err, ws.ErrPingTimeout)
			assert.ErrorIs(t, err, ws.ErrConnectionLost)
			var lost *ws.LostError
			require.ErrorAs(t, err, &lost)
			assert.Equal(t, 1, lost.Session)
			assert.Less(t, at.Sub(start), interval+timeout+margin)
			assert.GreaterOrEqual(t, at.Sub(start), interval+timeout)
			// Writes on the lost connection fail at once, sending nothing.
			assert.ErrorIs(t, c.WriteJSON(t.Context(), map[string]any{"type": "response.create"}), ws.ErrConnectionLost)
		})
	}
}

func TestPingIgnoredButTalking(t *testing.T) {
	// A peer that answers no ping but keeps sending is alive.
	e := newEnv(t, testserver.HTTP1, testserver.Config{TokensPerSecond: 50})
	e.srv.SetRealtimeScript(testserver.RealtimeFault{IgnorePings: true})
	c := e.dial(t, ws.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	readType(t, c, "session.created")
	require.NoError(t, c.WriteJSON(t.Context(), map[string]any{"type": "response.create", "response": map[string]any{"max_output_tokens": 30}}))
	readType(t, c, "response.done")
}

func TestStall(t *testing.T) {
	tests := []struct {
		name     string
		fault    testserver.Fault
		sentinel error
	}{
		{"first event", testserver.Fault{FirstTokenDelay: time.Minute}, roundtripper.ErrFirstTokenTimeout},
		{"mid response", testserver.Fault{StallAfter: 3}, roundtripper.ErrTokenIntervalTimeout},
		{"keep-alive pings do not count", testserver.Fault{StallAfter: 3, StallMode: testserver.StallPings, StallEvery: 50 * time.Millisecond}, roundtripper.ErrTokenIntervalTimeout},
	}
	const first, interval = 400 * time.Millisecond, 300 * time.Millisecond
	for _, p := range protocols {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t, p.proto, testserver.Config{})
				e.srv.SetRealtimeScript(testserver.RealtimeFault{Fault: tt.fault})
				c := e.dial(t, ws.Config{FirstEventTimeout: first, EventIntervalTimeout: interval})
				readType(t, c, "session.created")
				require.NoError(t, c.WriteJSON(t.Context(), map[string]any{"type": "response.create"}))
				last := time.Now()
				var err error
				for {
					var typ string
					typ, _, err = c.ReadEvent(t.Context())
					if err != nil {
						break
					}
					if typ != "ping" {
						last = time.Now()
					}
				}
				waited := time.Since(last)
				require.ErrorIs(t, err, tt.sentinel)
				assert.ErrorIs(t, err, ws.ErrConnectionLost)
				var se *ws.StallError
				require.ErrorAs(t, err, &se)
				limit := interval
				if tt.sentinel == roundtripper.ErrFirstTokenTimeout {
					limit = first
				}
				assert.GreaterOrEqual(t, se.Waited, limit)
				assert.Less(t, waited, limit+margin)
			})
		}
	}
}

func TestReconnectAfterDrop(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := newEnv(t, p.proto, testserver.Config{})
			e.srv.SetRealtimeScript(testserver.RealtimeFault{Fault: testserver.Fault{Close: testserver.CloseMidStream, StallAfter: 2}})
			var mu sync.Mutex
			var sessions []ws.Session
			c := e.dial(t, ws.Config{
				Reconnect:    ws.ReconnectConfig{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond},
				OnNewSession: func(s ws.Session) { mu.Lock(); sessions = append(sessions, s); mu.Unlock() },
			})
			readType(t, c, "session.created")
			require.NoError(t, c.WriteJSON(t.Context(), map[string]any{"type": "response.create"}))
			deltas := 0
			var err error
			for {
				var typ string
				if typ, _, err = c.ReadEvent(t.Context()); err != nil {
					break
				}
				if typ == "response.output_text.delta" {
					deltas++
				}
			}
			require.ErrorIs(t, err, ws.ErrConnectionLost)
			assert.Equal(t, 2, deltas, "what arrived before the drop is read first")
			mu.Lock()
			assert.Empty(t, sessions, "no reconnection before the next Read")
			mu.Unlock()

			// The next Read reconnects: a new session, announced first.
			typ, _, err := c.ReadEvent(t.Context())
			require.NoError(t, err)
			assert.Equal(t, "session.created", typ)
			mu.Lock()
			require.Len(t, sessions, 1)
			assert.Equal(t, 2, sessions[0].ID)
			assert.ErrorIs(t, sessions[0].Cause, ws.ErrConnectionLost)
			mu.Unlock()
			assert.Equal(t, 2, c.Session().ID)

			// Nothing was replayed: the next event answers what we send now,
			// not a response.create from the old session.
			require.NoError(t, c.WriteJSON(t.Context(), map[string]any{"type": "session.update", "session": map[string]any{}}))
			typ, _, err = c.ReadEvent(t.Context())
			require.NoError(t, err)
			assert.Equal(t, "session.updated", typ)
			assert.Equal(t, 2, e.handshakes())
		})
	}
}

func TestHandshakeRefused(t *testing.T) {
	tests := []struct {
		status  int
		says    string
		code    string
		retried bool
	}{
		{http.StatusUnauthorized, "check the API key", "invalid_api_key", false},
		{http.StatusTooManyRequests, "rate limited", "rate_limit_exceeded", true},
		{http.StatusServiceUnavailable, "server error", "", true},
	}
	for _, p := range protocols {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", p.name, tt.status), func(t *testing.T) {
				e := newEnv(t, p.proto, testserver.Config{Default: testserver.Fault{Status: tt.status}})
				_, err := ws.Dial(t.Context(), e.url, ws.Config{
					HTTPClient: e.client,
					Header:     http.Header{"Authorization": {"Bearer sk-secret-key"}},
					Reconnect:  ws.ReconnectConfig{MaxAttempts: 3},
				})
				var he *ws.HandshakeError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, tt.status, he.StatusCode)
				assert.NotEmpty(t, he.Body)
				assert.Contains(t, err.Error(), fmt.Sprint(tt.status))
				assert.Contains(t, err.Error(), tt.says)
				assert.NotContains(t, err.Error(), "sk-secret")
				assert.Equal(t, tt.retried, he.Temporary())
				assert.True(t, roundtripper.NotSent(err))
				assert.Equal(t, 1, e.handshakes(), "Dial makes one handshake")
			})
		}
	}
}

func TestReconnectRefused401NotRetried(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	e.srv.SetRealtimeScript(
		testserver.RealtimeFault{Fault: testserver.Fault{Close: testserver.CloseAfterHeaders}},
		testserver.RealtimeFault{Fault: testserver.Fault{Status: http.StatusUnauthorized}},
	)
	c := e.dial(t, ws.Config{Reconnect: ws.ReconnectConfig{MaxAttempts: 5, BaseDelay: time.Millisecond}})
	err, _ := readErr(t, c)
	require.ErrorIs(t, err, ws.ErrConnectionLost)
	_, _, err = c.Read(t.Context())
	var he *ws.HandshakeError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusUnauthorized, he.StatusCode)
	assert.Contains(t, err.Error(), "401 Unauthorized")
	assert.Equal(t, 2, e.handshakes(), "a 401 is not retried")
}

func TestReconnectGivesUp(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	e.srv.SetRealtimeScript(
		testserver.RealtimeFault{Fault: testserver.Fault{Close: testserver.CloseAfterHeaders}},
		testserver.RealtimeFault{Fault: testserver.Fault{Status: 503}},
		testserver.RealtimeFault{Fault: testserver.Fault{Status: 503}},
		testserver.RealtimeFault{Fault: testserver.Fault{Status: 503}},
	)
	c := e.dial(t, ws.Config{Reconnect: ws.ReconnectConfig{MaxAttempts: 3, BaseDelay: time.Millisecond}})
	err, _ := readErr(t, c)
	require.ErrorIs(t, err, ws.ErrConnectionLost)
	_, _, err = c.Read(t.Context())
	var re *ws.ReconnectError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 3, re.Attempts)
	assert.Equal(t, 4, e.handshakes())

	// The caller's context bounds the reconnection too.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err = c.Read(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestOversizedMessage(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := newEnv(t, p.proto, testserver.Config{})
			e.srv.SetRealtimeScript(testserver.RealtimeFault{OversizeBytes: 64 << 10})
			c := e.dial(t, ws.Config{MaxMessageSize: 32 << 10})
			readType(t, c, "session.created")
			err, _ := readErr(t, c)
			assert.ErrorIs(t, err, ws.ErrMessageTooBig)
			var tb *ws.MessageTooBigError
			require.ErrorAs(t, err, &tb)
			assert.EqualValues(t, 32<<10, tb.Limit)
		})
	}
}

func TestDefaultLimitAcceptsLargeMessage(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	e.srv.SetRealtimeScript(testserver.RealtimeFault{OversizeBytes: 1 << 20})
	c := e.dial(t, ws.Config{})
	readType(t, c, "session.created")
	data := readType(t, c, "response.output_text.delta")
	assert.Greater(t, len(data), 1<<20)
}

func TestConcurrentWriters(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	c := e.dial(t, ws.Config{})
	readType(t, c, "session.created")
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				assert.NoError(t, c.WriteJSON(t.Context(), map[string]any{
					"type": "session.update", "session": map[string]any{"instructions": fmt.Sprint(w, "-", i)},
				}))
			}
		})
	}
	seen := map[string]bool{}
	for range writers * each {
		var ev struct {
			Session struct{ Instructions string } `json:"session"`
		}
		typ, err := c.ReadJSON(t.Context(), &ev)
		require.NoError(t, err)
		require.Equal(t, "session.updated", typ)
		seen[ev.Session.Instructions] = true
	}
	wg.Wait()
	assert.Len(t, seen, writers*each)
}

func TestCloseUnresponsivePeer(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	e.srv.SetRealtimeScript(testserver.RealtimeFault{Deaf: true})
	const closeTimeout = 300 * time.Millisecond
	c := e.dial(t, ws.Config{CloseTimeout: closeTimeout, PingInterval: -1})
	readDone := make(chan error, 1)
	go func() { _, _, err := c.Read(context.Background()); readDone <- err }()
	start := time.Now()
	require.NoError(t, c.Close())
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, closeTimeout)
	assert.Less(t, took, closeTimeout+margin)
	assert.ErrorIs(t, <-readDone, ws.ErrClosed, "a pending Read returns at once")
}

func TestServerCloses1001(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	e.srv.SetRealtimeScript(testserver.RealtimeFault{MaxAge: 200 * time.Millisecond})
	c := e.dial(t, ws.Config{})
	readType(t, c, "session.created")
	err, _ := readErr(t, c)
	var ce *ws.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1001, ce.Code)
	assert.ErrorIs(t, err, ws.ErrConnectionLost)
}

func TestRollover(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	// The server would cut each session after 10s; the client rolls over
	// long before.
	e.srv.SetRealtimeScript(testserver.RealtimeFault{MaxAge: 10 * time.Second}, testserver.RealtimeFault{MaxAge: 10 * time.Second})
	news := make(chan ws.Session, 4)
	c := e.dial(t, ws.Config{
		MaxSessionAge: 300 * time.Millisecond,
		OnNewSession:  func(s ws.Session) { news <- s },
	})
	readType(t, c, "session.created")
	// A response in flight delays the rollover until it is done.
	require.NoError(t, c.WriteJSON(t.Context(), map[string]any{"type": "response.create"}))
	readType(t, c, "response.done")
	typ, data, err := c.ReadEvent(t.Context())
	require.NoError(t, err, "a rollover is no loss")
	assert.Equal(t, "session.created", typ)
	var ev struct {
		Session struct{ ID string } `json:"session"`
	}
	require.NoError(t, json.Unmarshal(data, &ev))
	select {
	case s := <-news:
		assert.Equal(t, 2, s.ID)
		assert.ErrorIs(t, s.Cause, ws.ErrSessionMaxAge)
	default:
		t.Fatal("OnNewSession was not called before the new session's first event")
	}
	assert.Equal(t, 2, c.Session().ID)
}

func TestDialFailure(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	e.srv.SetRealtimeScript(testserver.RealtimeFault{Fault: testserver.Fault{Close: testserver.CloseBeforeHeaders}})
	_, err := ws.Dial(t.Context(), e.url, ws.Config{HTTPClient: e.client, Header: http.Header{"Authorization": {"Bearer sk-secret"}}})
	var de *ws.DialError
	require.ErrorAs(t, err, &de)
	assert.NotContains(t, err.Error(), "sk-secret")
	assert.True(t, roundtripper.NotSent(err))

	e2 := newEnv(t, testserver.HTTP1, testserver.Config{Default: testserver.Fault{HeaderDelay: time.Minute}})
	start := time.Now()
	_, err = ws.Dial(t.Context(), e2.url, ws.Config{HTTPClient: e2.client, HandshakeTimeout: 200 * time.Millisecond})
	require.ErrorAs(t, err, &de)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), err.Error())
	assert.Less(t, time.Since(start), 200*time.Millisecond+margin)
}
