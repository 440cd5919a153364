package janitor

import (
	"sync"
	"time"
)

// fakeClock is a clock whose time moves only when Advance is called.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	ts  []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.ts = append(c.ts, t)
	return t.c, func() bool { return c.remove(t) }
}

func (c *fakeClock) remove(t *fakeTimer) bool {
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

func (c *fakeClock) timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ts)
}

// Advance moves time forward by d and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
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
