package dnscache

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// startLocked starts an upstream query for k. c.mu is held for writing.
// It returns nil after Close.
func (c *Cache) startLocked(k flightKey, refresh *atomic.Bool) *flight {
	if c.closed {
		return nil
	}
	fl := &flight{done: make(chan struct{}), started: time.Now(), refresh: refresh}
	c.flights[k] = fl
	c.queries.Add(1)
	c.wg.Add(1)
	go c.query(k, fl)
	return fl
}

// query asks the upstream for one family of one host and stores the
// answer. Its context is the Cache's, not a caller's: a caller who gives up
// leaves the query running for the others and for the cache, bounded by
// LookupTimeout and Close.
func (c *Cache) query(k flightKey, fl *flight) {
	defer c.wg.Done()
	addrs, err := c.ask(c.resolver, k)
	if err != nil && !isNotFound(err) && c.fallbackResolver != nil && c.ctx.Err() == nil {
		c.logDebug("dnscache: asking the fallback resolver", "host", k.host, "network", famNetwork[k.f], "err", err)
		addrs, err = c.ask(c.fallbackResolver, k)
	}
	if err == nil {
		addrs = clean(addrs, k.f)
		if len(addrs) == 0 {
			err = &net.DNSError{Err: "no such host", Name: k.host, IsNotFound: true}
		}
	}
	if err != nil {
		addrs = nil
		if c.ctx.Err() != nil {
			err = ErrClosed
		}
		c.logDebug("dnscache: upstream query failed", "host", k.host, "network", famNetwork[k.f], "err", err)
	}
	now := c.now()

	c.mu.Lock()
	delete(c.flights, k)
	if !errors.Is(err, ErrClosed) {
		c.storeLocked(k, addrs, err, now)
	}
	c.mu.Unlock()

	if fl.refresh != nil {
		fl.refresh.Store(false)
		<-c.refreshSem
	}
	fl.addrs, fl.err = addrs, err
	close(fl.done)
}

func (c *Cache) ask(r *net.Resolver, k flightKey) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.lookupTimeout)
	defer cancel()
	return r.LookupNetIP(ctx, famNetwork[k.f], k.host)
}

// clean unmaps addresses, keeps those of family f and drops duplicates.
func clean(addrs []netip.Addr, f fam) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() != (f == fam4) {
			continue
		}
		dup := false
		for _, b := range out {
			if a == b {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

// storeLocked records an upstream answer. c.mu is held.
func (c *Cache) storeLocked(k flightKey, addrs []netip.Addr, err error, now time.Time) {
	e := (*c.table.Load())[k.host]
	if e == nil {
		e = &entry{host: k.host}
		e.snap.Store(&snapshot{})
		e.used.Store(c.tick.Add(1))
		c.insertLocked(e)
	}
	s := *e.snap.Load()
	fs := &s.fam[k.f]
	other := &s.fam[1-k.f]
	switch {
	case err == nil:
		fs.stored, fs.addrs, fs.notFound = true, addrs, nil
		fs.expires = now.Add(c.ttl)
		fs.failErr, fs.failedUntil = nil, time.Time{}
		e.hits[k.f].Store(0)
		// A name that exists but lacks the other family is an answer,
		// not a failure: keep it as long as this one, so a host without
		// AAAA does not cost a query every NegativeTTL.
		if other.stored && other.notFound != nil && other.expires.Before(fs.expires) {
			other.expires = fs.expires
			other.refreshAt = c.refreshAt(other.expires)
		}
	case isNotFound(err):
		// RFC 8767: "no such name" is an answer; it replaces a stale one.
		fs.stored, fs.addrs, fs.notFound = true, nil, err
		fs.failErr, fs.failedUntil = nil, time.Time{}
		e.hits[k.f].Store(0)
		if other.stored && len(other.addrs) > 0 {
			fs.expires = now.Add(c.ttl)
		} else {
			fs.expires = now.Add(c.negTTL)
		}
	default:
		fs.failErr = err
		fs.failedUntil = now.Add(c.negTTL)
	}
	fs.refreshAt = c.refreshAt(fs.expires)
	s.all = nil
	if n := len(s.fam[fam6].addrs) + len(s.fam[fam4].addrs); n > 0 {
		s.all = make([]netip.Addr, 0, n)
		s.all = append(append(s.all, s.fam[fam6].addrs...), s.fam[fam4].addrs...)
	}
	e.snap.Store(&s)
}

func (c *Cache) refreshAt(expires time.Time) time.Time {
	return expires.Add(-c.refreshAhead)
}

// insertLocked adds e to a copy of the table, dropping the least recently
// used hosts to stay within MaxEntries. The copy and the linear scan run
// only when an upstream answer brings a new host, next to which they are
// cheap. c.mu is held.
func (c *Cache) insertLocked(e *entry) {
	old := *c.table.Load()
	t := make(map[string]*entry, len(old)+1)
	for h, v := range old {
		t[h] = v
	}
	t[e.host] = e
	for len(t) > c.maxEntries {
		var victim *entry
		for _, v := range t {
			if victim == nil || v.used.Load() < victim.used.Load() {
				victim = v
			}
		}
		delete(t, victim.host)
		c.evictions.Add(1)
		c.logDebug("dnscache: evicted", "host", victim.host)
	}
	c.table.Store(&t)
}
