package transport

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// gate admits requests into the transport: at most perHost in flight to one
// host and total in flight overall (zero: no limit). Requests that do not fit
// queue in a FIFO list of their host. A release frees one slot of its host
// and one of the total, so it grants at most one waiter: the head of its
// host's queue, or, when the total limit was what held requests back, the
// waiter that arrived first among the heads of the hosts with room, found
// by walking the hosts that have waiters (an LLM client talks to a handful),
// never the waiters. So after every operation no waiter fits, and a
// newcomer that fits may go at once without overtaking anyone queued for
// its host.
type gate struct {
	perHost, total int
	timeout        time.Duration // zero: wait until the context ends
	clock          clock

	mu       sync.Mutex
	inFlight int
	waiting  int // over all hosts
	seq      uint64
	hosts    map[string]*hostState
	queued   map[*hostState]struct{} // hosts with waiters
}

type hostState struct {
	inFlight, waiting int
	opened, timeouts  int64
	head, tail        *waiter // its queue, in arrival order
}

type waiter struct {
	host       *hostState
	seq        uint64        // arrival order over all hosts
	ready      chan struct{} // closed when granted
	granted    bool
	prev, next *waiter
}

func newGate(perHost, total int, timeout time.Duration, clk clock) *gate {
	return &gate{perHost: perHost, total: total, timeout: timeout, clock: clk,
		hosts: make(map[string]*hostState), queued: make(map[*hostState]struct{})}
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

func (g *gate) hostFitsLocked(h *hostState) bool { return g.perHost <= 0 || h.inFlight < g.perHost }

func (g *gate) fitsLocked(h *hostState) bool {
	return g.hostFitsLocked(h) && (g.total <= 0 || g.inFlight < g.total)
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
	if timedOut {
		w.host.timeouts++
	}
	return false
}

func (g *gate) release(h *hostState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	totalBound := g.total > 0 && g.inFlight >= g.total
	h.inFlight--
	g.inFlight--
	if g.waiting == 0 {
		return
	}
	if !totalBound {
		// Every waiter was held back by its host's limit; only h's
		// changed.
		if h.head != nil && g.fitsLocked(h) {
			g.grantLocked(h.head)
		}
		return
	}
	var first *waiter
	for x := range g.queued {
		if g.hostFitsLocked(x) && (first == nil || x.head.seq < first.seq) {
			first = x.head
		}
	}
	if first != nil {
		g.grantLocked(first)
	}
}

func (g *gate) grantLocked(w *waiter) {
	g.removeLocked(w)
	w.host.inFlight++
	g.inFlight++
	w.granted = true
	close(w.ready)
}

func (g *gate) pushLocked(w *waiter) {
	h := w.host
	g.seq++
	w.seq = g.seq
	h.waiting++
	g.waiting++
	if h.waiting == 1 {
		g.queued[h] = struct{}{}
	}
	w.prev = h.tail
	if h.tail != nil {
		h.tail.next = w
	} else {
		h.head = w
	}
	h.tail = w
}

func (g *gate) removeLocked(w *waiter) {
	h := w.host
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		h.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		h.tail = w.prev
	}
	w.prev, w.next = nil, nil
	h.waiting--
	g.waiting--
	if h.waiting == 0 {
		delete(g.queued, h)
	}
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
