package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFIFOServesInArrivalOrder(t *testing.T) {
	f := newFIFO(1)
	require.True(t, f.tryAcquire())
	const n = 5
	order := make(chan int, n)
	for i := range n {
		go func() {
			ok, err := f.acquire(context.Background(), -1)
			assert.True(t, ok)
			assert.NoError(t, err)
			order <- i
			f.release()
		}()
		// Each waiter is queued before the next one starts.
		require.Eventually(t, func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.waiters.Len() == i+1
		}, 5*time.Second, time.Millisecond)
	}
	f.release()
	for i := range n {
		assert.Equal(t, i, <-order)
	}
	assert.Equal(t, 0, f.inFlight())
}

func TestFIFOGivesUp(t *testing.T) {
	f := newFIFO(1)
	require.True(t, f.tryAcquire())
	ok, err := f.acquire(context.Background(), 0)
	assert.False(t, ok, "a zero limit does not wait")
	assert.NoError(t, err)
	ok, err = f.acquire(context.Background(), 20*time.Millisecond)
	assert.False(t, ok)
	assert.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok, err = f.acquire(ctx, -1)
	assert.False(t, ok)
	assert.ErrorIs(t, err, context.Canceled)
	// Nobody is left queued, and the slot is still the holder's.
	f.mu.Lock()
	assert.Equal(t, 0, f.waiters.Len())
	f.mu.Unlock()
	f.release()
	assert.True(t, f.tryAcquire())
}
