package transport

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// gate admits requests into the transport: at most perHost in flight to one
// host and total in flight overall (zero: no limit). Requests that do not fit
// queue in one FIFO list; every release grants, in arrival order, each waiter
// that fits. So after every operation no waiter fits, and a newcomer that
// fits may go at once without overtaking anyone queued for its host.
type gate struct {
	perHost, total int
	timeout        time.Duration // zero: wait until the context ends
	clock          clock

	mu         sync.Mutex
	inFlight   int
	hosts      map[string]*hostState
	head, tail *waiter
}

type hostState struct {
	inFlight, waiting int
	opened, timeouts  int64
}

type waiter struct {
	host       *hostState
	ready      chan struct{} // closed when granted
	granted    bool
	prev, next *waiter
}

func newGate(perHost, total int, timeout time.Duration, clk clock) *gate {
	return &gate{perHost: perHost, total: total, timeout: timeout, clock: clk, hosts: make(map[string]*hostState)}
}

// hostLocked returns the state of key, creating it. Entries are kept for the
// life of the transport so that their counters survive; an LLM client talks
// to a handful of hosts.
func (g *gate) hostLocked(key string) *hostState {
	h := g.hosts[key]
	if h == nil {
		h = &hostState{}
		g.hosts[key] = h
	}
	return h
}

func (g *gate) fitsLocked(h *hostState) bool {
	return (g.perHost <= 0 || h.inFlight < g.perHost) && (g.total <= 0 || g.inFlight < g.total)
}

// slot is one admitted request; release gives it back, once.
type slot struct {
	g    *gate
	h    *hostState
	once sync.Once
}

func (s *slot) release() { s.once.Do(func() { s.g.release(s.h) }) }

// acquire admits a request to host key, waiting in line when the limits are
// reached. It fails with a *PoolTimeoutError after g.timeout, or with the
// context's error when ctx ends first; a waiter that gives up leaves the line
// before acquire returns.
func (g *gate) acquire(ctx context.Context, key string) (*slot, time.Duration, error) {
	g.mu.Lock()
	h := g.hostLocked(key)
	if g.fitsLocked(h) {
		h.inFlight++
		g.inFlight++
		g.mu.Unlock()
		return &slot{g: g, h: h}, 0, nil
	}
	w := &waiter{host: h, ready: make(chan struct{})}
	g.pushLocked(w)
	g.mu.Unlock()
	start := g.clock.Now()

	var expired <-chan time.Time
	if g.timeout > 0 {
		c, stop := g.clock.NewTimer(g.timeout)
		defer stop()
		expired = c
	}
	select {
	case <-w.ready:
		return &slot{g: g, h: h}, g.clock.Now().Sub(start), nil
	case <-expired:
		if g.leave(w, true) {
			return &slot{g: g, h: h}, g.timeout, nil // granted as the timer fired: use it
		}
		return nil, g.timeout, &PoolTimeoutError{Host: key, Waited: g.timeout}
	case <-ctx.Done():
		if g.leave(w, false) {
			g.release(h)
		}
		return nil, g.clock.Now().Sub(start), fmt.Errorf("transport: %s: waiting for a connection slot: %w", key, context.Cause(ctx))
	}
}

// leave takes w out of the line. It reports whether w had been granted a
// slot meanwhile, which the caller then owns.
func (g *gate) leave(w *waiter, timedOut bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		return true
	}
	g.removeLocked(w)
	w.host.waiting--
	if timedOut {
		w.host.timeouts++
	}
	return false
}

func (g *gate) release(h *hostState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h.inFlight--
	g.inFlight--
	for w := g.head; w != nil; {
		if g.total > 0 && g.inFlight >= g.total {
			break
		}
		next := w.next
		if g.fitsLocked(w.host) {
			g.removeLocked(w)
			w.host.waiting--
			w.host.inFlight++
			g.inFlight++
			w.granted = true
			close(w.ready)
		}
		w = next
	}
}

func (g *gate) pushLocked(w *waiter) {
	w.host.waiting++
	w.prev = g.tail
	if g.tail != nil {
		g.tail.next = w
	} else {
		g.head = w
	}
	g.tail = w
}

func (g *gate) removeLocked(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		g.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		g.tail = w.prev
	}
	w.prev, w.next = nil, nil
}

func (g *gate) opened(key string) {
	g.mu.Lock()
	g.hostLocked(key).opened++
	g.mu.Unlock()
}

// clock is the time source of the pool timeout; tests replace it.
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
