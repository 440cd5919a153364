package janitor

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/roundtripper"
)

var errClosedIdle = errors.New("http: server closed idle connection")

func TestResendWhenNothingWasWritten(t *testing.T) {
	tests := []struct {
		name    string
		reused  bool
		write   bool // the failed attempt wrote to the connection
		getBody bool
		want    int // attempts
		ok      bool
	}{
		{"unwritten on a pooled connection", true, false, true, 2, true},
		{"written", true, true, true, 1, false},
		{"fresh connection", false, false, true, 1, false},
		{"body cannot be rewound", true, false, false, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			c, peer := f.dialConn()
			go func() { _, _ = io.Copy(io.Discard, peer) }()
			var bodies []string
			next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
				b, _ := io.ReadAll(req.Body)
				bodies = append(bodies, string(b))
				trace := httptrace.ContextClientTrace(req.Context())
				trace.GotConn(httptrace.GotConnInfo{Conn: c, Reused: tt.reused})
				if len(bodies) == 1 {
					if tt.write {
						_, _ = c.Write([]byte("POST"))
					}
					return nil, errClosedIdle
				}
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}}, nil
			})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://api.example.com/v1/chat/completions", strings.NewReader(`{"q":1}`))
			require.NoError(t, err)
			if !tt.getBody {
				req.GetBody = nil
			}
			resp, err := f.j.Middleware()(next).RoundTrip(req)
			assert.Len(t, bodies, tt.want)
			if !tt.ok {
				require.ErrorIs(t, err, errClosedIdle)
				assert.Zero(t, f.j.Stats().Resent)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, []string{`{"q":1}`, `{"q":1}`}, bodies, "the body is rewound")
			assert.Equal(t, int64(1), f.j.Stats().Resent)
		})
	}
}

func TestResendIsBounded(t *testing.T) {
	f := newFixture(t, Config{})
	c, _ := f.dialConn()
	attempts := 0
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		attempts++
		httptrace.ContextClientTrace(req.Context()).GotConn(httptrace.GotConnInfo{Conn: c, Reused: true})
		return nil, errClosedIdle
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://api.example.com/v1/models", nil)
	require.NoError(t, err)
	_, err = f.j.Middleware()(next).RoundTrip(req)
	require.ErrorIs(t, err, errClosedIdle)
	assert.Equal(t, maxResends, attempts)
}
