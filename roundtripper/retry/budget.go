package retry

import (
	"sync"
	"sync/atomic"
	"time"
)

// BudgetConfig configures a retry budget. The zero value gives the
// defaults: 20% of the calls of the last 10 seconds, plus 3 retries a second.
type BudgetConfig struct {
	// Ratio is the share of recent calls to a host that may be retries;
	// zero means 0.2. During a total outage the server then sees about
	// 1+Ratio attempts per call (plus the floor), instead of MaxRetries+1.
	Ratio float64

	// MinPerSecond is a floor of retries per second and host allowed
	// whatever the traffic, so a lone caller on a quiet client still gets
	// its retries; zero means 3. Up to one second's worth, and at least
	// 5, can be saved up, so that a lone call with up to 5 retries and
	// short backoffs is not cut short.
	MinPerSecond float64

	// Window is how far back calls count towards Ratio; zero means 10s.
	Window time.Duration
}

// Budget limits retries to a share of recent traffic, per host, so that
// clients cannot turn a server's outage into a retry storm (the scheme of
// Finagle's RetryBudget and gRPC's retry throttling). Every call deposits;
// every retry withdraws, and is allowed while the retries of the window stay
// under Ratio times its calls, or while the per-second floor has some left.
//
// A Budget is safe for concurrent use and may be shared by several retry
// decorators (Config.Budget), for example one per SDK client talking to the
// same host.
type Budget struct {
	ratio  float64
	floor  float64
	slots  int
	window time.Duration
	// clock reads monotonic time since the budget was made: one vDSO
	// call, half the cost of time.Now, on every call's path.
	clock func() time.Duration

	hosts sync.Map                  // host string -> *hostBudget
	last  atomic.Pointer[hostEntry] // the host looked up last: most clients talk to one
}

type hostEntry struct {
	host string
	hb   *hostBudget
}

// slot counts calls and retries of one second.
type slot struct {
	sec     int64
	calls   int64
	retries int64
}

type hostBudget struct {
	// pending counts calls not yet dated: a call costs one atomic add, and
	// only every foldEvery-th call (or a retry decision) reads the clock
	// and takes the lock to file them.
	pending atomic.Int64

	mu        sync.Mutex
	slots     []slot
	lastFold  time.Duration // clock reading of the last fold
	floor     float64       // tokens saved up from the per-second floor
	lastFloor time.Duration // clock reading of the last refill
}

// foldEvery is how many calls may go undated; under steady traffic they
// are filed within a few milliseconds.
const foldEvery = 16

// NewBudget returns a budget with the given configuration (copied).
func NewBudget(cfg BudgetConfig) *Budget {
	epoch := time.Now()
	b := &Budget{ratio: cfg.Ratio, floor: cfg.MinPerSecond, window: cfg.Window, clock: func() time.Duration { return time.Since(epoch) }}
	if b.ratio <= 0 {
		b.ratio = 0.2
	}
	if b.floor <= 0 {
		b.floor = 3
	}
	if b.window <= 0 {
		b.window = 10 * time.Second
	}
	b.slots = max(1, int((b.window+time.Second-1)/time.Second))
	return b
}

func (b *Budget) host(h string) *hostBudget {
	if e := b.last.Load(); e != nil && e.host == h {
		return e.hb
	}
	v, ok := b.hosts.Load(h)
	if !ok {
		now := b.clock()
		hb := &hostBudget{slots: make([]slot, b.slots), floor: b.burst(), lastFloor: now, lastFold: now}
		v, _ = b.hosts.LoadOrStore(h, hb)
	}
	hb := v.(*hostBudget)
	b.last.Store(&hostEntry{host: h, hb: hb})
	return hb
}

// burst is how many floor tokens can be saved up.
func (b *Budget) burst() float64 { return max(b.floor, floorBurst) }

// floorBurst is the least number of floor retries saved up: enough for a
// lone call to use a MaxRetries of 5 at once, small enough not to matter
// in an outage (5 retries more in total).
const floorBurst = 5

// cur returns the slot of second sec, emptied if it held an older second.
func (h *hostBudget) cur(sec int64) *slot {
	s := &h.slots[int(uint64(sec)%uint64(len(h.slots)))]
	if s.sec != sec {
		*s = slot{sec: sec}
	}
	return s
}

// deposit records a call. A call already marked as a retry by the layer
// above (X-Stainless-Retry-Count > 0) is recorded as a retry instead: it is
// one more attempt of a call already counted.
func (b *Budget) deposit(host string, isRetry bool) {
	h := b.host(host)
	if !isRetry {
		if h.pending.Add(1)%foldEvery == 0 {
			now := b.clock()
			h.mu.Lock()
			h.fold(now)
			h.mu.Unlock()
		}
		return
	}
	now := b.clock()
	h.mu.Lock()
	h.fold(now)
	h.cur(int64(now/time.Second)).retries++
	h.mu.Unlock()
}

// fold files the calls deposited since the last fold under the second of
// the last fold. They happened between then and now, so this dates them as
// old as they may be, and drops them once that is outside the window: an
// error in the budget is always towards fewer retries. A quiet host's few
// calls may be dropped that way; the floor is there for quiet hosts.
func (h *hostBudget) fold(now time.Duration) {
	if p := h.pending.Swap(0); p > 0 {
		last := int64(h.lastFold / time.Second)
		if last > int64(now/time.Second)-int64(len(h.slots)) {
			h.cur(last).calls += p
		}
	}
	h.lastFold = now
}

// withdraw reports whether one more retry to host fits the budget, and if so
// records it.
func (b *Budget) withdraw(host string) bool {
	h := b.host(host)
	now := b.clock()
	sec := int64(now / time.Second)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fold(now)

	var calls, retries int64
	for i := range h.slots {
		s := &h.slots[i]
		if s.sec > sec-int64(len(h.slots)) && s.sec <= sec {
			calls += s.calls
			retries += s.retries
		}
	}
	// Refill the floor: MinPerSecond tokens a second, up to a burst.
	if el := now - h.lastFloor; el > 0 {
		h.floor = min(b.burst(), h.floor+el.Seconds()*b.floor)
		h.lastFloor = now
	}
	switch {
	case float64(retries+1) <= b.ratio*float64(calls):
	case h.floor >= 1:
		h.floor--
	default:
		return false
	}
	h.cur(sec).retries++
	return true
}
