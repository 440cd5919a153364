package testserver

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hundreds of concurrent streams all get their exact text, and the server
// counts them right.
func TestManyStreams(t *testing.T) {
	const n = 100
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			// The header delay keeps the streams in flight together.
			s := New(t, Config{Protocol: p, Default: Fault{HeaderDelay: 100 * time.Millisecond}})
			c := client(t, s)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			texts := make(chan string, n)
			deadline := time.Now().Add(30 * time.Second)
			for range n {
				wg.Go(func() {
					resp, err := post(t, c, s, "/v1/messages", `{"stream":true,"max_tokens":16}`, nil)
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if err != nil {
						errs <- err
						return
					}
					texts <- string(b)
				})
			}
			wg.Wait()
			require.True(t, time.Now().Before(deadline), "took too long")
			close(errs)
			close(texts)
			for err := range errs {
				require.NoError(t, err)
			}
			got := 0
			for b := range texts {
				require.True(t, strings.HasSuffix(b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), b)
				require.Equal(t, Text(16), deltas(t, b))
				got++
			}
			assert.Equal(t, n, got)
			st := s.Stats()
			assert.Equal(t, int64(n), st.Requests)
			assert.Greater(t, st.MaxInFlight, int64(1), "streams overlapped")
			assert.Zero(t, st.InFlight)
		})
	}
}
