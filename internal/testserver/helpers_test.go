package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var bothProtocols = []Protocol{HTTP1, H2C}

// arrival is one Read of the client's raw connection.
type arrival struct {
	at   time.Time
	data []byte
}

// recorder wraps every connection a transport dials and keeps each Read's
// bytes with the time they arrived: what the kernel delivered, below any
// HTTP framing or buffering.
type recorder struct {
	mu       sync.Mutex
	arrivals []arrival
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		at := time.Now()
		c.r.mu.Lock()
		c.r.arrivals = append(c.r.arrivals, arrival{at: at, data: bytes.Clone(p[:n])})
		c.r.mu.Unlock()
	}
	return n, err
}

func (r *recorder) snapshot() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.arrivals...)
}

// at returns when the first arrival containing s came, and its index.
func (r *recorder) at(t *testing.T, s string) (time.Time, int) {
	t.Helper()
	for i, a := range r.snapshot() {
		if bytes.Contains(a.data, []byte(s)) {
			return a.at, i
		}
	}
	require.Failf(t, "never arrived", "%q", s)
	return time.Time{}, 0
}

// recordingClient is a client for s whose connections are recorded.
func recordingClient(t *testing.T, s *Server) (*http.Client, *recorder) {
	rec := &recorder{}
	tr := s.Transport()
	d := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recConn{Conn: c, r: rec}, nil
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, rec
}

func client(t *testing.T, s *Server) *http.Client {
	c := s.Client()
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// post sends a JSON body to path, with a fault header when f is not nil.
func post(t *testing.T, c *http.Client, s *Server, path, body string, f *Fault) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if f != nil {
		v, err := json.Marshal(f)
		require.NoError(t, err)
		req.Header.Set(FaultHeader, string(v))
	}
	return c.Do(req)
}

// fetch posts and reads the whole answer.
func fetch(t *testing.T, c *http.Client, s *Server, path, body string, f *Fault) (*http.Response, string) {
	t.Helper()
	resp, err := post(t, c, s, path, body, f)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

const streamChat = `{"model":"m","stream":true,"max_tokens":4}`

// deltas extracts the concatenated text deltas of a streamed body.
func deltas(t *testing.T, body string) string {
	t.Helper()
	var out strings.Builder
	for line := range strings.Lines(body) {
		data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev struct {
			Type    string `json:"type"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Delta json.RawMessage `json:"delta"`
		}
		require.NoError(t, json.Unmarshal([]byte(data), &ev), data)
		switch ev.Type {
		case "":
			for _, c := range ev.Choices {
				out.WriteString(c.Delta.Content)
			}
		case "response.output_text.delta":
			var s string
			require.NoError(t, json.Unmarshal(ev.Delta, &s))
			out.WriteString(s)
		case "content_block_delta":
			var d struct{ Type, Text string }
			require.NoError(t, json.Unmarshal(ev.Delta, &d))
			out.WriteString(d.Text)
		}
	}
	return out.String()
}
