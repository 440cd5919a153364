package transport

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func waiting(g *gate) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, h := range g.hosts {
		for w := h.head; w != nil; w = w.next {
			n++
		}
	}
	return n
}

func TestGateServesWaitersInArrivalOrder(t *testing.T) {
	g := newGate(1, 0, 0, wallClock{})
	first, _, err := g.acquire(t.Context(), "a:80")
	require.NoError(t, err)

	const n = 8
	order := make(chan int, n)
	done := make(chan struct{})
	for i := range n {
		go func() {
			s, _, err := g.acquire(t.Context(), "a:80")
			if !assert.NoError(t, err) {
				order <- -1
				return
			}
			order <- i
			s.release()
			if i == n-1 {
				close(done)
			}
		}()
		// Line the waiters up one by one, so arrival order is known.
		require.Eventually(t, func() bool { return waiting(g) == i+1 }, 10*time.Second, time.Millisecond)
	}
	first.release()
	<-done
	close(order)
	var got []int
	for i := range order {
		got = append(got, i)
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7}, got)
}

func TestGateLimits(t *testing.T) {
	t.Run("a full host does not block another", func(t *testing.T) {
		g := newGate(1, 10, 0, wallClock{})
		a, _, err := g.acquire(t.Context(), "a:80")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		waited := make(chan error, 1)
		go func() {
			_, _, err := g.acquire(ctx, "a:80")
			waited <- err
		}()
		require.Eventually(t, func() bool { return waiting(g) == 1 }, 10*time.Second, time.Millisecond)
		b, _, err := g.acquire(t.Context(), "b:80")
		require.NoError(t, err, "b has room")
		b.release()
		cancel()
		require.ErrorIs(t, <-waited, context.Canceled)
		a.release()
		assert.Zero(t, g.inFlight)
	})
	t.Run("total", func(t *testing.T) {
		g := newGate(5, 2, 0, wallClock{})
		a, _, err := g.acquire(t.Context(), "a:80")
		require.NoError(t, err)
		b, _, err := g.acquire(t.Context(), "b:80")
		require.NoError(t, err)
		got := make(chan *slot, 1)
		go func() {
			s, _, err := g.acquire(t.Context(), "c:80")
			assert.NoError(t, err)
			got <- s
		}()
		require.Eventually(t, func() bool { return waiting(g) == 1 }, 10*time.Second, time.Millisecond)
		a.release()
		a.release() // twice is once
		c := <-got
		b.release()
		c.release()
		assert.Zero(t, g.inFlight)
	})
	t.Run("timeout with fake clock", func(t *testing.T) {
		clk := newFakeClock()
		g := newGate(1, 0, 2*time.Second, clk)
		a, _, err := g.acquire(t.Context(), "a:443")
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() {
			_, _, err := g.acquire(t.Context(), "a:443")
			errc <- err
		}()
		require.Eventually(t, func() bool { return clk.Timers() == 1 }, 10*time.Second, time.Millisecond)
		clk.Advance(2 * time.Second)
		err = <-errc
		require.ErrorIs(t, err, ErrPoolTimeout)
		assert.Equal(t, "transport: pool timeout: a:443 after 2s", err.Error())
		assert.Zero(t, waiting(g))
		a.release()
	})
}

func BenchmarkGate(b *testing.B) {
	b.ReportAllocs()
	g := newGate(64, 0, time.Second, wallClock{})
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, _, err := g.acquire(ctx, "api.example.com:443")
			if err != nil {
				b.Fatal(err)
			}
			s.release()
		}
	})
}

// TestGateTotalLimitServesHostsInArrivalOrder: when the total limit holds
// requests of several hosts back, a release grants the one that arrived
// first among those whose host has room, whichever host released.
func TestGateTotalLimitServesHostsInArrivalOrder(t *testing.T) {
	g := newGate(2, 2, 0, wallClock{})
	c1, _, err := g.acquire(t.Context(), "c:80")
	require.NoError(t, err)
	c2, _, err := g.acquire(t.Context(), "c:80")
	require.NoError(t, err)
	order := make(chan string, 3)
	slots := make(chan *slot, 3)
	for i, host := range []string{"b:80", "a:80", "c:80"} {
		go func() {
			s, _, err := g.acquire(t.Context(), host)
			assert.NoError(t, err)
			order <- host
			slots <- s
		}()
		require.Eventually(t, func() bool { return waiting(g) == i+1 }, 10*time.Second, time.Millisecond)
	}
	c1.release() // c's own waiter came last: b goes first
	assert.Equal(t, "b:80", <-order)
	c2.release()
	assert.Equal(t, "a:80", <-order)
	(<-slots).release()
	assert.Equal(t, "c:80", <-order)
	for range 2 {
		(<-slots).release()
	}
	assert.Zero(t, g.inFlight)
	assert.Zero(t, waiting(g))
}

// BenchmarkGateReleaseWithQueue: acquire and release on one host while
// 1,000 requests wait for another, full, host. A release looks at its own
// host's queue, not at every waiter (before per-host queues: ~2us/op, now
// ~0.1us/op on the 2-core machine).
func BenchmarkGateReleaseWithQueue(b *testing.B) {
	b.ReportAllocs()
	g := newGate(1, 0, 0, wallClock{})
	full, _, err := g.acquire(b.Context(), "full:80")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(b.Context())
	const queued = 1000
	done := make(chan struct{}, queued)
	for range queued {
		go func() {
			_, _, _ = g.acquire(ctx, "full:80")
			done <- struct{}{}
		}()
	}
	require.Eventually(b, func() bool { return waiting(g) == queued }, 10*time.Second, time.Millisecond)
	for b.Loop() {
		s, _, err := g.acquire(ctx, "free:80")
		if err != nil {
			b.Fatal(err)
		}
		s.release()
	}
	b.StopTimer()
	cancel()
	for range queued {
		<-done
	}
	full.release()
}
