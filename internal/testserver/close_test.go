package testserver

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloseModes(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		wantResp   bool   // headers arrive
		wantPrefix string // text received before the drop
	}{
		{"before headers", Fault{Close: CloseBeforeHeaders}, false, ""},
		{"after headers", Fault{Close: CloseAfterHeaders}, true, ""},
		{"mid stream after 3", Fault{Close: CloseMidStream, StallAfter: 3}, true, Text(3)},
		{"mid stream half way", Fault{Close: CloseMidStream}, true, Text(2)},
		{"mid stream after stall", Fault{Close: CloseMidStream, StallAfter: 1, StallFor: 20 * time.Millisecond}, true, Text(1)},
	}
	for _, p := range bothProtocols {
		for _, reset := range []bool{false, true} {
			for _, tt := range tests {
				name := p.String() + "/" + tt.name
				if reset {
					name += "/rst"
				}
				t.Run(name, func(t *testing.T) {
					f := tt.fault
					f.Reset = reset
					s := New(t, Config{Protocol: p, Script: []Fault{f}})
					c := client(t, s)
					resp, err := post(t, c, s, "/v1/chat/completions", streamChat, nil)
					if !tt.wantResp {
						require.Error(t, err)
						checkDrop(t, reset, err)
					} else {
						require.NoError(t, err)
						body, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						require.Error(t, err)
						checkDrop(t, reset, err)
						if !reset {
							// With RST, the kernel may drop what the client had not read yet.
							assert.Equal(t, tt.wantPrefix, deltas(t, completeEvents(string(body))))
						}
					}
					require.Eventually(t, func() bool {
						st := s.Stats()
						return st.ConnsClosed == 1 && st.InFlight == 0
					}, 5*time.Second, 5*time.Millisecond)

					// The server goes on serving on new connections.
					resp, body := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
					assert.Equal(t, 200, resp.StatusCode)
					assert.Equal(t, Text(4), deltas(t, body))
				})
			}
		}
	}
}

// checkDrop checks a dropped connection's error: a reset is ECONNRESET
// (over HTTP/1.1 and, as Go's HTTP/2 client reports the connection's read
// error, over h2c too) and a FIN is not.
func checkDrop(t *testing.T, reset bool, err error) {
	t.Helper()
	if reset {
		assert.ErrorIs(t, err, syscall.ECONNRESET)
	} else {
		assert.False(t, errors.Is(err, syscall.ECONNRESET), "%v", err)
	}
}

// completeEvents drops a trailing partial event.
func completeEvents(body string) string {
	i := strings.LastIndex(body, "\n\n")
	if i < 0 {
		return ""
	}
	return body[:i+2]
}
