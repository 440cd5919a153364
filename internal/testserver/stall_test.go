package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A silent stall is a real stall: the client's socket receives not one byte
// between the last token before it and the first token after it.
func TestStallSilent(t *testing.T) {
	const stall = 300 * time.Millisecond
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, Script: []Fault{{StallAfter: 2, StallFor: stall}}})
			c, rec := recordingClient(t, s)
			start := time.Now()
			_, body := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, Text(4), deltas(t, body))

			before, i := rec.at(t, `"content":" t1"`)
			after, j := rec.at(t, `"content":" t2"`)
			assert.Equal(t, i+1, j, "bytes arrived during the stall: %q", rec.snapshot()[i+1:j])
			assert.GreaterOrEqual(t, after.Sub(start), stall, "a strict lower bound")
			// The gap as the client saw it; the margin is for a loaded machine
			// delaying the read of the token before the stall.
			assert.GreaterOrEqual(t, after.Sub(before), stall/2)
		})
	}
}

// With comments or pings, only those arrive while the stream is stalled.
func TestStallKeepAlive(t *testing.T) {
	const stall = 300 * time.Millisecond
	tests := []struct {
		name, path string
		mode       StallMode
		before     string // the last token's event before the stall
		after      string
		keepalive  string // all that may arrive in between, repeated
	}{
		{"chat comments", "/v1/chat/completions", StallComments, `"content":" t1"`, `"content":" t2"`, ": keep-alive\n\n"},
		{"chat pings", "/v1/chat/completions", StallPings, `"content":" t1"`, `"content":" t2"`, ": ping\n\n"},
		{"messages pings", "/v1/messages", StallPings, `"text":" t1"`, `"text":" t2"`, "event: ping\ndata: {\"type\": \"ping\"}\n\n"},
		{"responses comments", "/v1/responses", StallComments, `"delta":" t1"`, `"delta":" t2"`, ": keep-alive\n\n"},
	}
	for _, p := range bothProtocols {
		for _, tt := range tests {
			t.Run(p.String()+"/"+tt.name, func(t *testing.T) {
				s := New(t, Config{Protocol: p, Script: []Fault{{StallAfter: 2, StallFor: stall, StallMode: tt.mode, StallEvery: 50 * time.Millisecond}}})
				c, rec := recordingClient(t, s)
				start := time.Now()
				_, body := fetch(t, c, s, tt.path, streamChat, nil)
				assert.Equal(t, Text(4), deltas(t, body))

				// In the body, only keep-alives lie between the two tokens.
				i := strings.Index(body, tt.before)
				j := strings.Index(body, tt.after)
				require.True(t, i >= 0 && j > i)
				from := i + strings.Index(body[i:], "\n\n") + 2
				to := strings.LastIndex(body[:j], "\n\n") + 2
				between := body[from:to]
				n := strings.Count(between, tt.keepalive)
				assert.Equal(t, strings.Repeat(tt.keepalive, n), between)
				assert.GreaterOrEqual(t, n, 2, "keep-alives sent every 50ms during 300ms")

				// On the wire, what arrived during the stall are keep-alives.
				before, bi := rec.at(t, tt.before)
				after, ai := rec.at(t, tt.after)
				assert.GreaterOrEqual(t, after.Sub(start), stall)
				assert.GreaterOrEqual(t, after.Sub(before), stall/2)
				for _, a := range rec.snapshot()[bi+1 : ai] {
					assert.True(t, bytes.Contains(a.data, []byte(strings.TrimSpace(tt.keepalive))), "%q", a.data)
				}
			})
		}
	}
}

// A stall without an end lasts until the client goes away, and then ends.
func TestStallUntilClientLeaves(t *testing.T) {
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, Default: Fault{StallAfter: 1}})
			c := client(t, s)
			resp, err := post(t, c, s, "/v1/chat/completions", streamChat, nil)
			require.NoError(t, err)
			buf := make([]byte, 4096)
			var got []byte
			for !bytes.Contains(got, []byte(`"content":"t0"`)) {
				n, err := resp.Body.Read(buf)
				require.NoError(t, err)
				got = append(got, buf[:n]...)
			}
			require.Equal(t, int64(1), s.Stats().InFlight)
			resp.Body.Close()
			require.Eventually(t, func() bool { return s.Stats().InFlight == 0 }, 5*time.Second, 5*time.Millisecond)
		})
	}
}

// Close ends a stall that would last forever, and every connection with it.
func TestCloseEndsStall(t *testing.T) {
	for _, p := range []Protocol{HTTP1, H2C, TLS} {
		t.Run(p.String(), func(t *testing.T) {
			s, err := Start(Config{Protocol: p, Default: Fault{StallAfter: 1}})
			require.NoError(t, err)
			c := s.Client()
			resp, err := post(t, c, s, "/v1/messages", streamChat, nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.NoError(t, s.Close())
			_, err = io.ReadAll(resp.Body)
			assert.Error(t, err)
			st := s.Stats()
			assert.Equal(t, st.ConnsAccepted, st.ConnsClosed)
			assert.Zero(t, st.InFlight)
			require.NoError(t, s.Close(), "twice")
		})
	}
}

// Delays end as soon as the client goes away or the server closes.
func TestDelaysEndPromptly(t *testing.T) {
	for _, p := range bothProtocols {
		for _, f := range []Fault{{HeaderDelay: time.Hour}, {FirstTokenDelay: time.Hour}, {StallAfter: 1, StallFor: time.Hour}, {StallAfter: 1, StallFor: time.Hour, StallMode: StallComments}} {
			name := p.String() + "/" + string(must(json.Marshal(f)))
			t.Run(name, func(t *testing.T) {
				s := New(t, Config{Protocol: p, Default: f})
				c := client(t, s)
				ctx, cancel := context.WithCancel(t.Context())
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/v1/chat/completions", strings.NewReader(streamChat))
				require.NoError(t, err)
				errc := make(chan error, 1)
				go func() {
					resp, err := c.Do(req)
					if err == nil {
						_, err = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					errc <- err
				}()
				require.Eventually(t, func() bool { return s.Stats().InFlight == 1 }, 5*time.Second, time.Millisecond)
				cancel()
				require.Error(t, <-errc)
				require.Eventually(t, func() bool { return s.Stats().InFlight == 0 }, 5*time.Second, time.Millisecond)

				// And when the server closes.
				go func() {
					resp, err := post(t, c, s, "/v1/chat/completions", streamChat, nil)
					if err == nil {
						_, err = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					errc <- err
				}()
				require.Eventually(t, func() bool { return s.Stats().InFlight == 1 }, 5*time.Second, time.Millisecond)
				start := time.Now()
				require.NoError(t, s.Close())
				assert.Less(t, time.Since(start), 2*time.Second)
				assert.Error(t, <-errc)
			})
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A non-streamed answer honours the faults half way through its body.
func TestJSONFaults(t *testing.T) {
	const stall = 200 * time.Millisecond
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p, Script: []Fault{
				{StallAfter: 1, StallFor: stall},
				{Truncate: true},
				{Close: CloseMidStream},
			}})
			c, rec := recordingClient(t, s)
			_, body := fetch(t, c, s, "/v1/chat/completions", `{"max_tokens":3}`, nil)
			assert.True(t, json.Valid([]byte(body)), body)
			assert.Contains(t, body, Text(3))
			var first, last time.Time
			for _, a := range rec.snapshot() {
				if bytes.Contains(a.data, []byte(`"chatcmpl-`)) {
					first = a.at
				}
				if bytes.Contains(a.data, []byte(`"total_tokens"`)) {
					last = a.at
				}
			}
			assert.GreaterOrEqual(t, last.Sub(first), stall/2)

			_, body = fetch(t, c, s, "/v1/chat/completions", `{"max_tokens":3}`, nil)
			assert.False(t, json.Valid([]byte(body)))
			assert.True(t, strings.HasPrefix(body, `{"id":"chatcmpl-`), body)

			resp, err := post(t, c, s, "/v1/chat/completions", `{"max_tokens":3}`, nil)
			require.NoError(t, err)
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Error(t, err)
		})
	}
}
