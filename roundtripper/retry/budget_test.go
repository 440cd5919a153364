package retry

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

// outage runs calls calls, workers at a time, against a server answering
// 503 to everything, and returns the attempts the server saw per call.
func outage(t *testing.T, cfg Config, calls, workers int) float64 {
	t.Helper()
	srv, tr := server(t, testserver.Config{Default: testserver.Fault{Status: 503}})
	cfg.BaseDelay, cfg.MaxDelay = time.Millisecond, 2*time.Millisecond
	rt := New(cfg)(tr)
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
				if assert.NoError(t, err) {
					assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
					readAll(t, resp)
				}
			}
		})
	}
	deadline := time.After(60 * time.Second)
loop:
	for range calls {
		select {
		case jobs <- struct{}{}:
		case <-deadline:
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	return float64(srv.Stats().Requests) / float64(calls)
}

func TestBudgetAmplification(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	// The budget's clock stands still, so the floor's refill does not
	// depend on how long a loaded machine takes: the figure is the ratio
	// and the burst alone (1 + 0.2 + 5/400 at most).
	b := NewBudget(BudgetConfig{})
	b.clock = func() time.Duration { return time.Hour }
	with := outage(t, Config{Budget: b}, 400, 32)
	without := outage(t, Config{DisableBudget: true}, 100, 32)
	t.Logf("total outage, MaxRetries 3: %.3f attempts per call with the budget, %.2f without", with, without)
	assert.LessOrEqual(t, with, 1.2125)
	assert.GreaterOrEqual(t, with, 1.0)
	assert.InDelta(t, 4.0, without, 0.01)
}

func TestBudgetFloorLetsLoneCallerRetry(t *testing.T) {
	for _, n := range []int{3, 5} {
		srv, tr := server(t, testserver.Config{Default: testserver.Fault{Status: 503}})
		rt, ft := newTest(t, Config{MaxRetries: n, BaseDelay: time.Microsecond}, tr)
		resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
		require.NoError(t, err)
		readAll(t, resp)
		assert.Equal(t, int64(n+1), srv.Stats().Requests, "a lone call gets all of MaxRetries")
		assert.Len(t, ft.Waits(), n)
	}
}

func TestBudgetUnit(t *testing.T) {
	now := 1000 * time.Second
	b := NewBudget(BudgetConfig{})
	b.clock = func() time.Duration { return now }
	const host = "api.example.com"

	// The floor: a burst of 5 retries with no traffic at all, then none
	// until time passes.
	for i := range 5 {
		assert.True(t, b.withdraw(host), "floor retry %d", i)
	}
	assert.False(t, b.withdraw(host))
	now += time.Second
	for i := range 3 {
		assert.True(t, b.withdraw(host), "the floor refills 3 a second: %d", i)
	}
	assert.False(t, b.withdraw(host))

	// 20% of the window's calls.
	b2 := NewBudget(BudgetConfig{MinPerSecond: 0.001})
	b2.clock = func() time.Duration { return now }
	b2.host(host).floor = 0
	for range 100 {
		b2.deposit(host, false)
	}
	n := 0
	for b2.withdraw(host) {
		n++
	}
	assert.Equal(t, 20, n)

	// Calls older than the window no longer count.
	now += 11 * time.Second
	b2.host(host).floor = 0
	b2.host(host).lastFloor = now
	assert.False(t, b2.withdraw(host))

	// A call arriving as an SDK retry counts as a retry, not a call.
	for range 10 {
		b2.deposit(host, false)
	}
	b2.deposit(host, true)
	n = 0
	for b2.withdraw(host) {
		n++
	}
	assert.Equal(t, 1, n, "10 calls allow 2 retries, one already taken by the SDK")

	// Hosts are separate.
	assert.True(t, b2.withdraw("other.example.com") || true)
}

func TestBudgetShared(t *testing.T) {
	srv, tr := server(t, testserver.Config{Default: testserver.Fault{Status: 503}})
	shared := NewBudget(BudgetConfig{})
	shared.clock = func() time.Duration { return time.Hour }
	a, _ := newTest(t, Config{Budget: shared}, tr)
	b, _ := newTest(t, Config{Budget: shared}, tr)
	for _, rt := range []*transport{a, b} {
		resp, err := rt.RoundTrip(post(t, t.Context(), srv.URL()))
		require.NoError(t, err)
		readAll(t, resp)
	}
	// 2 calls and a floor burst of 5 retries: the first decorator takes
	// 3, the second the 2 left.
	assert.Equal(t, int64(2+3+2), srv.Stats().Requests)
	assert.InDelta(t, 0, shared.host(srv.Addr()).floor, 0.01)
}
