package dnscache

import "time"

// refresh starts background queries for the families in due of e, within
// the bound on concurrent refreshes.
func (c *Cache) refresh(e *entry, due mask) {
	for f := fam4; f <= fam6; f++ {
		if !due.has(f) {
			continue
		}
		flag := &e.refreshing[f]
		if !flag.CompareAndSwap(false, true) {
			continue
		}
		select {
		case c.refreshSem <- struct{}{}:
		default:
			flag.Store(false)
			continue
		}
		c.mu.Lock()
		k := flightKey{e.host, f}
		started := false
		if (*c.table.Load())[e.host] == e && c.flights[k] == nil {
			started = c.startLocked(k, flag) != nil
		}
		c.mu.Unlock()
		if started {
			c.refreshes.Add(1)
		} else {
			flag.Store(false)
			<-c.refreshSem
		}
	}
}

func (c *Cache) sweepInterval() time.Duration {
	// Real time, whatever the clock: the sweeper must notice a refresh
	// window well inside it, and needs no finer grain than a second.
	if c.refreshAhead == 0 {
		return time.Second
	}
	return min(max(c.refreshAhead/2, 50*time.Millisecond), time.Second)
}

func (c *Cache) sweepLoop(every time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.sweep(c.now())
		}
	}
}

// sweep refreshes popular answers about to expire and forgets hosts with
// nothing left worth serving.
func (c *Cache) sweep(now time.Time) {
	type due struct {
		e *entry
		m mask
	}
	var refresh []due
	var dead []string
	c.mu.Lock()
	for host, e := range *c.table.Load() {
		s := e.snap.Load()
		keep := false
		var m mask
		for f := fam4; f <= fam6; f++ {
			fs := &s.fam[f]
			if (fs.stored && now.Before(fs.expires)) || c.canStale(fs, now) ||
				now.Before(fs.failedUntil) || c.flights[flightKey{host, f}] != nil {
				keep = true
			}
			if c.refreshAhead > 0 && fs.stored && e.hits[f].Load() >= c.popular &&
				now.Before(fs.expires) && !now.Before(fs.refreshAt) && !now.Before(fs.failedUntil) {
				m |= 1 << f
			}
		}
		if !keep {
			dead = append(dead, host)
			continue
		}
		if m != 0 {
			refresh = append(refresh, due{e, m})
		}
	}
	if len(dead) > 0 {
		old := *c.table.Load()
		t := make(map[string]*entry, len(old))
		for h, v := range old {
			t[h] = v
		}
		for _, h := range dead {
			delete(t, h)
		}
		c.table.Store(&t)
	}
	c.mu.Unlock()
	for _, d := range refresh {
		c.refresh(d.e, d.m)
	}
}
