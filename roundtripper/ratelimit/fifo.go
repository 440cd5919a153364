package ratelimit

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// fifo is a counting semaphore that serves waiters in arrival order: a
// call that arrived first gets the next free slot, so no call starves
// behind later ones.
type fifo struct {
	mu      sync.Mutex
	size    int
	used    int
	waiters list.List // of chan struct{}, closed when granted a slot
}

func newFIFO(size int) *fifo { return &fifo{size: size} }

// tryAcquire takes a slot if one is free and nobody is queued.
func (f *fifo) tryAcquire() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.used < f.size && f.waiters.Len() == 0 {
		f.used++
		return true
	}
	return false
}

// acquire waits for a slot until ctx ends or, when limit >= 0, limit has
// passed. ok reports whether it got one; timedOut whether limit ended the wait.
func (f *fifo) acquire(ctx context.Context, limit time.Duration) (ok bool, err error) {
	f.mu.Lock()
	if f.used < f.size && f.waiters.Len() == 0 {
		f.used++
		f.mu.Unlock()
		return true, nil
	}
	if limit == 0 {
		f.mu.Unlock()
		return false, nil
	}
	ready := make(chan struct{})
	elem := f.waiters.PushBack(ready)
	f.mu.Unlock()

	var expired <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-ready:
		return true, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-expired:
	}
	f.mu.Lock()
	select {
	case <-ready:
		// Granted while giving up: pass the slot on.
		f.used--
		f.grantLocked()
	default:
		f.waiters.Remove(elem)
	}
	f.mu.Unlock()
	return false, err
}

func (f *fifo) release() {
	f.mu.Lock()
	f.used--
	f.grantLocked()
	f.mu.Unlock()
}

func (f *fifo) grantLocked() {
	for f.used < f.size && f.waiters.Len() > 0 {
		e := f.waiters.Front()
		f.waiters.Remove(e)
		close(e.Value.(chan struct{}))
		f.used++
	}
}

func (f *fifo) inFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}
