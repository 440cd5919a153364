package testserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dialRealtime(t *testing.T, s *Server, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := strings.Replace(s.URL(), "http", "ws", 1) + RealtimePath
	client := s.Client()
	if s.cfg.Protocol == H2C {
		// An h2c prior-knowledge client cannot upgrade; the H2C server
		// speaks HTTP/1.1 on the same port.
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		client = &http.Client{Transport: tr}
	}
	c, resp, err := websocket.Dial(t.Context(), u, &websocket.DialOptions{HTTPClient: client, HTTPHeader: h})
	if c != nil {
		c.SetReadLimit(-1)
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

func readEvent(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	_, data, err := c.Read(t.Context())
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

func TestRealtimeEventFlow(t *testing.T) {
	for _, p := range []Protocol{HTTP1, H2C, TLS} {
		t.Run(p.String(), func(t *testing.T) {
			s := New(t, Config{Protocol: p})
			c, _, err := dialRealtime(t, s, nil)
			require.NoError(t, err)
			assert.Equal(t, "session.created", readEvent(t, c)["type"])
			require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"type":"session.update","session":{"voice":"x"}}`)))
			ev := readEvent(t, c)
			assert.Equal(t, "session.updated", ev["type"])
			assert.Equal(t, "x", ev["session"].(map[string]any)["voice"])
			require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"type":"response.create","response":{"max_output_tokens":3}}`)))
			var types []string
			var text string
			for {
				ev := readEvent(t, c)
				typ := ev["type"].(string)
				types = append(types, typ)
				if d, ok := ev["delta"].(string); ok {
					text += d
				}
				if typ == "response.done" {
					break
				}
			}
			assert.Equal(t, []string{"response.created", "response.output_text.delta", "response.output_text.delta",
				"response.output_text.delta", "response.output_text.done", "response.done"}, types)
			assert.Equal(t, Text(3), text)
			require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"type":"bogus"}`)))
			assert.Equal(t, "error", readEvent(t, c)["type"])
			assert.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
		})
	}
}

func TestRealtimeRefusal(t *testing.T) {
	for _, status := range []int{401, 429, 503} {
		s := New(t, Config{})
		s.SetRealtimeScript(RealtimeFault{Fault: Fault{Status: status}})
		_, resp, err := dialRealtime(t, s, nil)
		require.Error(t, err)
		require.NotNil(t, resp)
		assert.Equal(t, status, resp.StatusCode)
		body, _ := io.ReadAll(resp.Body)
		assert.Contains(t, string(body), `"error"`)
		// The script is used up: the next connection is normal.
		c, _, err := dialRealtime(t, s, nil)
		require.NoError(t, err)
		assert.Equal(t, "session.created", readEvent(t, c)["type"])
	}
}

func TestRealtimeFaultHeaders(t *testing.T) {
	s := New(t, Config{})
	h := http.Header{RealtimeFaultHeader: {`{"OversizeBytes":1000}`}}
	c, _, err := dialRealtime(t, s, h)
	require.NoError(t, err)
	readEvent(t, c)
	_, data, err := c.Read(t.Context())
	require.NoError(t, err)
	assert.Greater(t, len(data), 1000)

	f, _ := json.Marshal(Fault{StallAfter: 1, Close: CloseMidStream})
	c, _, err = dialRealtime(t, s, http.Header{FaultHeader: {string(f)}})
	require.NoError(t, err)
	readEvent(t, c)
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"type":"response.create"}`)))
	assert.Equal(t, "response.created", readEvent(t, c)["type"])
	assert.Equal(t, "response.output_text.delta", readEvent(t, c)["type"])
	_, _, err = c.Read(t.Context())
	assert.Error(t, err, "the connection was dropped")

	s.SetRealtimeScript(RealtimeFault{MaxAge: 50 * time.Millisecond})
	c, _, err = dialRealtime(t, s, nil)
	require.NoError(t, err)
	readEvent(t, c)
	_, _, err = c.Read(t.Context())
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err))
}
