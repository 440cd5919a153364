package dnscache

import (
	"sync/atomic"
	"time"
)

// coarseTick is the resolution of the coarse clock: answers live minutes,
// so reading them up to 10 ms late changes nothing, while time.Now costs
// more than the rest of a cached lookup on some virtual machines.
const coarseTick = 10 * time.Millisecond

// coarseIdleTicks is how many ticks without a reader park the clock.
const coarseIdleTicks = 100

// coarseClock is the wall clock read from memory. A goroutine (run) stores
// the time every coarseTick while lookups read it; after a second without
// readers it parks, readers read the real clock, and the first of them
// wakes it. So an idle Cache does not wake up 100 times a second.
type coarseClock struct {
	nanos  atomic.Int64 // Unix nanoseconds, at most a tick old while !parked
	parked atomic.Bool
	read   atomic.Bool // someone read nanos since the last tick
	wake   chan struct{}
}

func newCoarseClock() *coarseClock {
	k := &coarseClock{wake: make(chan struct{}, 1)}
	k.nanos.Store(time.Now().UnixNano())
	return k
}

func (k *coarseClock) now() time.Time {
	if k.parked.Load() {
		n := time.Now().UnixNano()
		// Store before unparking, so no reader sees the stale time once
		// parked is false.
		k.nanos.Store(n)
		if k.parked.CompareAndSwap(true, false) {
			select {
			case k.wake <- struct{}{}:
			default:
			}
		}
		return time.Unix(0, n)
	}
	if !k.read.Load() {
		k.read.Store(true)
	}
	return time.Unix(0, k.nanos.Load())
}

// run ticks until stop is closed.
func (k *coarseClock) run(stop <-chan struct{}) {
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		k.nanos.Store(time.Now().UnixNano())
		if k.read.Swap(false) {
			idle = 0
			continue
		}
		if idle++; idle < coarseIdleTicks {
			continue
		}
		idle = 0
		t.Stop()
		k.parked.Store(true)
		// A reader may have read the clock between the Swap and the Store
		// and gone away; it then wakes us next time, nothing is lost.
		select {
		case <-stop:
			return
		case <-k.wake:
		}
		t.Reset(coarseTick)
	}
}
