package llmhttp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineCtx stands for context.WithTimeoutCause(parent, limit,
// ErrTotalTimeout) when parent can never be cancelled (its Done is nil),
// which is the case of every call made with context.Background or values
// on it. The standard one costs six allocations and a timer of its own per
// call, with the child context net/http's transport derives from it (about
// 0.8µs on the development machine); this one lives in the call's
// timedCall, takes its timer from a pool, and makes its Done channel only
// when asked.
//
// It implements AfterFunc (the interface the context package looks for),
// so that contexts derived from it register with it instead of starting a
// goroutine each to watch its Done channel.
type deadlineCtx struct {
	context.Context // the parent; its Done is nil
	deadline        time.Time
	t               *poolTimer // nil once stopped or fired

	mu      sync.Mutex
	done    chan struct{}
	err     error
	expired bool // the deadline passed (err is context.DeadlineExceeded)
	fns     []afterFn
	fnSpace [2]afterFn // fns' first storage: one derived context is the rule
	nextID  int
}

type afterFn struct {
	id int
	f  func()
}

// closedChan is the Done channel of a deadlineCtx that ended before anyone
// asked for one.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// start arms c's deadline, limit from now.
func (c *deadlineCtx) start(parent context.Context, limit time.Duration) {
	c.Context = parent
	c.deadline = time.Now().Add(limit)
	c.fns = c.fnSpace[:0]
	t := timers.Get().(*poolTimer)
	t.target.Store(c)
	t.t.Reset(limit)
	c.t = t
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// timedOut reports whether the deadline ended the context.
func (c *deadlineCtx) timedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expired
}

// AfterFunc arranges for f to be called once c is done, and returns a
// function that cancels that, as context.AfterFunc does; the context
// package calls it for every context derived from c. f is called on the
// goroutine that ends c (it is the context package's own cancel function).
func (c *deadlineCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.nextID++
	id := c.nextID
	c.fns = append(c.fns, afterFn{id: id, f: f})
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, a := range c.fns {
			if a.id == id {
				c.fns = append(c.fns[:i], c.fns[i+1:]...)
				return true
			}
		}
		return false
	}
}

// end makes c done with err, unless it is already; expired says the
// deadline did it.
func (c *deadlineCtx) end(err error, expired bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err, c.expired = err, expired
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	fns := c.fns
	c.fns = nil
	t := c.t
	c.t = nil
	c.mu.Unlock()
	if t != nil && !expired && t.t.Stop() {
		// Stopped before it fired: no call of fire can come, so the timer
		// can serve another call. One that fired is left to the collector.
		t.target.Store(nil)
		timers.Put(t)
	}
	for _, a := range fns {
		a.f()
	}
}

// cancel ends c as a cancel function of the context package would.
func (c *deadlineCtx) cancel() { c.end(context.Canceled, false) }

// poolTimer is a timer made once and armed again for call after call: a
// timer of its own would cost each call two allocations.
type poolTimer struct {
	t      *time.Timer
	target atomic.Pointer[deadlineCtx]
}

func (t *poolTimer) fire() {
	if c := t.target.Swap(nil); c != nil {
		c.end(context.DeadlineExceeded, true)
	}
}

// timers recycles the poolTimers of calls that ended before their
// deadline; its New is set in init, as it refers to timers itself.
var timers sync.Pool

func init() {
	timers.New = func() any {
		t := new(poolTimer)
		t.t = time.AfterFunc(time.Hour, t.fire)
		t.t.Stop()
		return t
	}
}
