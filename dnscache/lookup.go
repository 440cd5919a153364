package dnscache

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// famResult is what one family contributes to a lookup.
type famResult struct {
	addrs  []netip.Addr
	err    error
	stale  bool
	cached bool // err was remembered, not just returned by the upstream
}

func (c *Cache) lookupSlow(ctx context.Context, host string, m mask, now time.Time) ([]netip.Addr, *entry, error) {
	var (
		res      [2]famResult
		fls      [2]*flight
		canStale [2]bool
		waited   bool
	)
	c.mu.Lock()
	e := (*c.table.Load())[host]
	var s *snapshot
	if e != nil {
		s = e.snap.Load()
	}
	for f := fam4; f <= fam6; f++ {
		if !m.has(f) {
			continue
		}
		var fs *famState
		if s != nil {
			fs = &s.fam[f]
		}
		switch {
		case fs != nil && fs.stored && now.Before(fs.expires):
			res[f] = famResult{addrs: fs.addrs, err: fs.notFound, cached: fs.notFound != nil}
		case fs != nil && now.Before(fs.failedUntil):
			res[f] = c.fallback(fs, now, fs.failErr)
			res[f].cached = true
		default:
			waited = true
			fl := c.flights[flightKey{host, f}]
			if fl == nil {
				fl = c.startLocked(flightKey{host, f}, nil)
			}
			if fl == nil { // closed
				res[f] = c.fallback(fs, now, ErrClosed)
				continue
			}
			fls[f] = fl
			canStale[f] = c.canStale(fs, now)
		}
	}
	if e != nil {
		if t := c.tick.Load(); e.used.Load() != t {
			e.used.Store(c.tick.Add(1))
		}
	}
	c.mu.Unlock()
	if waited {
		c.misses.Add(1)
	} else {
		c.hits.Add(1)
	}

	if err := c.wait(ctx, host, &res, fls, canStale); err != nil {
		c.errs.Add(1)
		return nil, nil, &LookupError{Host: host, Err: err}
	}
	return c.combine(host, m, res)
}

// wait waits for the queries in fls and fills res: with each answer as it
// comes, with a stale answer once the response timer of a family that has
// one runs out or ctx ends, and with nothing for a family whose query has
// been pending a response timer while the other family's addresses were
// fresh in the cache. It returns an error only when ctx ends and there is
// nothing to answer with.
//
// That last bound is RFC 8305's resolution delay, stretched from its 50 ms
// to the response timer: on a network that drops AAAA questions, the
// cached A answer is not held up for LookupTimeout each time the AAAA
// failure is forgotten, and the late answer still fills the cache. When
// both families are asked together, both are waited for, since one family
// may just be slower to be scheduled under load.
func (c *Cache) wait(ctx context.Context, host string, res *[2]famResult, fls [2]*flight, canStale [2]bool) error {
	var (
		done    [2]<-chan struct{}
		timeout [2]<-chan time.Time
		delay   <-chan time.Time
		pending int
	)
	for f := fam4; f <= fam6; f++ {
		fl := fls[f]
		if fl == nil {
			continue
		}
		pending++
		done[f] = fl.done
		if canStale[f] {
			// The response timer runs from the start of the query, so
			// a lookup joining a slow query waits only what is left of it.
			t := time.NewTimer(c.responseTimeout - time.Since(fl.started))
			defer t.Stop()
			timeout[f] = t.C
		}
	}
	settle := func(f fam, r famResult) {
		res[f] = r
		done[f], timeout[f] = nil, nil
		pending--
	}
	have := func() bool { return len(res[fam4].addrs) > 0 || len(res[fam6].addrs) > 0 }
	if pending == 1 && have() {
		// From the start of the pending query, so that lookups joining
		// one pending long do not wait again.
		for f := fam4; f <= fam6; f++ {
			if done[f] != nil {
				t := time.NewTimer(c.responseTimeout - time.Since(fls[f].started))
				defer t.Stop()
				delay = t.C
			}
		}
	}
	for pending > 0 {
		var f fam
		select {
		case <-done[fam4]:
			f = fam4
		case <-done[fam6]:
			f = fam6
		case <-timeout[fam4]:
			settle(fam4, c.fallbackNow(host, fam4, errSlow))
			continue
		case <-timeout[fam6]:
			settle(fam6, c.fallbackNow(host, fam6, errSlow))
			continue
		case <-delay:
			return nil // the pending family's answer goes to the cache alone
		case <-ctx.Done():
			for f := fam4; f <= fam6; f++ {
				if done[f] != nil && canStale[f] {
					// The caller cannot wait for the response timer; a
					// stale answer beats none (RFC 8767).
					if r := c.fallbackNow(host, f, errSlow); r.err == nil {
						settle(f, r)
					}
				}
			}
			if have() {
				return nil
			}
			return ctx.Err()
		}
		if fl := fls[f]; fl.err == nil || isNotFound(fl.err) {
			settle(f, famResult{addrs: fl.addrs, err: fl.err})
		} else {
			settle(f, c.fallbackNow(host, f, fl.err))
		}
	}
	return nil
}

// errSlow stands for an upstream that did not answer within the response
// timer; it is never returned, since a stale answer is served instead.
var errSlow = errors.New("upstream slow")

// canStale reports whether fs has an expired answer that may still be
// served at now.
func (c *Cache) canStale(fs *famState, now time.Time) bool {
	return fs != nil && fs.stored && len(fs.addrs) > 0 && c.staleLimit > 0 &&
		now.Before(fs.expires.Add(c.staleLimit))
}

// fallback answers for a family whose upstream failed with err: the stale
// answer if there is one, else err.
func (c *Cache) fallback(fs *famState, now time.Time, err error) famResult {
	if c.canStale(fs, now) {
		return famResult{addrs: fs.addrs, stale: true}
	}
	return famResult{err: err}
}

func (c *Cache) fallbackNow(host string, f fam, err error) famResult {
	now := c.now()
	var fs *famState
	if e := (*c.table.Load())[host]; e != nil {
		fs = &e.snap.Load().fam[f]
	}
	if err == errSlow && !c.canStale(fs, now) {
		// The stale answer went away (evicted) while we waited.
		return famResult{err: context.DeadlineExceeded}
	}
	return c.fallback(fs, now, err)
}

// combine merges the families' results into one answer.
func (c *Cache) combine(host string, m mask, res [2]famResult) ([]netip.Addr, *entry, error) {
	var (
		addrs  []netip.Addr
		err    error
		cached bool
		stale  bool
	)
	for _, f := range [2]fam{fam6, fam4} {
		if !m.has(f) {
			continue
		}
		r := res[f]
		stale = stale || (r.stale && len(r.addrs) > 0)
		if len(r.addrs) > 0 {
			if addrs == nil {
				addrs = r.addrs
			} else {
				addrs = append(append(make([]netip.Addr, 0, len(addrs)+len(r.addrs)), addrs...), r.addrs...)
			}
			continue
		}
		// Prefer a real failure to "not found" when neither family
		// answered: the failure is what the caller can act on.
		if r.err != nil && (err == nil || (isNotFound(err) && !isNotFound(r.err))) {
			err, cached = r.err, r.cached
		}
	}
	if stale && addrs != nil {
		c.stale.Add(1)
		c.logDebug("dnscache: serving stale answer", "host", host)
	}
	if addrs != nil {
		return addrs, (*c.table.Load())[host], nil
	}
	if err == nil {
		err = &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	c.errs.Add(1)
	return nil, nil, &LookupError{Host: host, Cached: cached, Err: err}
}
