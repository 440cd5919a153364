package janitor

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/transport"
)

// TestHTTP2RetirementUnderLoad retires h2c connections that carry many
// streams at once: 16 workers keep up to 16 streams of at least 20ms in
// flight.
// A connection that is due is sent a GOAWAY instead of being closed: no
// stream is cut (no call fails, every body is read to its end), new
// requests go to a new connection, and the client closes the old one when
// its last stream ends, which the server sees.
func TestHTTP2RetirementUnderLoad(t *testing.T) {
	const workers, maxRequests = 16, 40
	// Each case runs until four connections have been retired (at most
	// 20,000 calls, or a minute).
	const retired, maxCalls = 4, 20_000
	tests := []struct {
		name   string
		cfg    Config
		closed func(Stats) int64
	}{
		{"requests", Config{MaxRequestsPerConn: maxRequests}, func(st Stats) int64 { return st.ClosedRequests }},
		{"lifetime", Config{MaxLifetime: 200 * time.Millisecond}, func(st Stats) int64 { return st.ClosedLifetime }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C, Default: testserver.Fault{HeaderDelay: 20 * time.Millisecond}})
			j, rt := stack(t, tt.cfg, transport.Config{H2C: true})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var next, done, failed atomic.Int64
			var drainingBusy atomic.Bool
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { // watch for a retired connection still carrying several streams
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						j.mu.Lock()
						for c := range j.conns {
							if c.draining && c.active > 1 {
								drainingBusy.Store(true)
							}
						}
						j.mu.Unlock()
					}
				}
			})
			var load sync.WaitGroup
			for range workers {
				load.Go(func() {
					for next.Add(1) <= maxCalls && tt.closed(j.Stats()) < retired {
						err := call(ctx, rt, srv.URL())
						done.Add(1)
						if err != nil && failed.Add(1) == 1 {
							t.Logf("first failure: %v", err)
						}
					}
				})
			}
			load.Wait()
			close(stop)
			wg.Wait()
			per := requestsPerConn(srv)
			sst := srv.Stats()
			t.Logf("%d calls, %d streams in flight at most: requests per connection %v", done.Load(), sst.MaxInFlight, per)
			assert.Zero(t, failed.Load())
			assert.GreaterOrEqual(t, sst.MaxInFlight, int64(workers/4), "many streams at once")
			assert.True(t, drainingBusy.Load(), "a retired connection kept carrying its streams")
			used := 0
			for _, n := range per {
				if n > 0 {
					used++
				}
				if tt.cfg.MaxRequestsPerConn > 0 {
					// Requests that picked the connection before the
					// client read the GOAWAY still go on it.
					assert.LessOrEqual(t, n, int64(maxRequests+workers), "requests per connection %v", per)
				}
			}
			assert.GreaterOrEqual(t, used, retired+1, "new requests went to new connections: %v", per)
			// Every retired connection is closed by the client once its
			// streams end, which the server sees; what stays open is what
			// the pool keeps (the last connection, and any spare one
			// net/http dialed while no connection took new streams).
			assert.Eventually(t, func() bool {
				st, sst := j.Stats(), srv.Stats()
				return st.Draining == 0 && sst.ConnsAccepted-sst.ConnsClosed == int64(st.Open)
			}, 10*time.Second, 5*time.Millisecond, "the server sees the retired connections closed")
			st := j.Stats()
			t.Logf("janitor: %+v", st)
			assert.GreaterOrEqual(t, tt.closed(st), int64(used-1))
			assert.LessOrEqual(t, st.Open, 2)
			assert.Zero(t, st.ClosedError)
		})
	}
}

func TestHTTP2IdleCloseSeenByServer(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
	j, rt := stack(t, Config{IdleTimeout: 100 * time.Millisecond}, transport.Config{H2C: true})
	require.NoError(t, call(t.Context(), rt, srv.URL()))
	require.Eventually(t, func() bool { return srv.Stats().ConnsClosed == srv.Stats().ConnsAccepted }, 10*time.Second, 5*time.Millisecond,
		"the client closes the idle connection after the janitor's GOAWAY")
	st := j.Stats()
	assert.Equal(t, int64(1), st.ClosedIdle)
	assert.Zero(t, st.Open)
	require.NoError(t, call(t.Context(), rt, srv.URL()), "the next call goes on a new connection")
}
