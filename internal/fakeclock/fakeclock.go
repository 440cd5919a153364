// Package fakeclock is a clock for tests whose time moves only when Advance
// is called, shared by the packages whose timing logic takes an injectable
// clock (transport, janitor).
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock whose time moves only when Advance is called. It is safe
// for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
	ts  []*timer
}

type timer struct {
	at time.Time
	c  chan time.Time
}

// New returns a Clock set to a fixed instant.
func New() *Clock { return &Clock{now: time.Unix(1_700_000_000, 0)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a channel that receives the time once d has passed, and a
// function that stops the timer, reporting whether it was still pending.
func (c *Clock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.ts = append(c.ts, t)
	return t.c, func() bool { return c.remove(t) }
}

func (c *Clock) remove(t *timer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.ts {
		if x == t {
			c.ts = append(c.ts[:i], c.ts[i+1:]...)
			return true
		}
	}
	return false
}

// Timers is the number of timers not yet fired or stopped.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ts)
}

// Advance moves time forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.ts[:0]
	for _, t := range c.ts {
		if !t.at.After(c.now) {
			t.c <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.ts = kept
}
