package dnscache

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fam indexes the per-family state of an entry.
type fam uint8

const (
	fam4 fam = iota
	fam6
)

// famNetwork is the net.Resolver network that asks for one family only, so
// that one upstream query is one A or one AAAA question.
var famNetwork = [2]string{fam4: "ip4", fam6: "ip6"}

// mask is a set of families.
type mask uint8

const (
	mask4    mask = 1 << fam4
	mask6    mask = 1 << fam6
	maskBoth      = mask4 | mask6
)

func (m mask) has(f fam) bool { return m&(1<<f) != 0 }

// Cache is a caching resolver and dialer. Its methods are safe for
// concurrent use. Create it with New and stop it with Close.
type Cache struct {
	cfg              Config
	now              func() time.Time // the clock; tests set a fake one
	coarse           *coarseClock     // nil with a fake clock
	resolver         *net.Resolver
	fallbackResolver *net.Resolver // nil: none
	dial             func(ctx context.Context, network, address string) (net.Conn, error)

	ttl, staleLimit, negTTL, refreshAhead time.Duration
	responseTimeout, lookupTimeout        time.Duration
	connectTimeout, fallbackDelay         time.Duration
	popular                               int64
	maxEntries                            int
	familyMask                            mask

	// ctx is the parent of every upstream query; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	refreshSem chan struct{} // one token per running background refresh

	// table is read without a lock: the hot path is two atomic loads and a
	// map lookup. Writers, serialised by mu, replace it with a copy when a
	// host is added or dropped; answers change through entry.snap.
	table atomic.Pointer[map[string]*entry]

	mu      sync.Mutex // serialises writers; guards closed and flights
	closed  bool
	flights map[flightKey]*flight

	tick     atomic.Uint64 // LRU clock: bumped on use, never the wall clock
	prefer4  atomic.Bool   // the last Happy Eyeballs race was won by IPv4
	dialNext atomic.Uint32 // rotation for hosts without an entry

	// hits is written by every cached lookup: padding keeps it off the
	// cache lines of the fields those lookups read (table, tick), which
	// would otherwise bounce between cores.
	_                                                  [64]byte
	hits                                               atomic.Int64
	_                                                  [56]byte
	misses, queries, stale, refreshes, errs, evictions atomic.Int64
}

// entry is the cached state of one host.
type entry struct {
	host string
	snap atomic.Pointer[snapshot] // replaced whole, under Cache.mu

	hits       [2]atomic.Int64 // cache hits per family since its answer was stored, counted up to Cache.popular
	refreshing [2]atomic.Bool
	used       atomic.Uint64 // Cache.tick at the last use
	dials      atomic.Uint32 // rotation counter for DialContext
}

// snapshot is what an entry knows at one moment. It is never modified once
// stored, nor are its address slices, so they are handed to callers as
// they are.
type snapshot struct {
	fam [2]famState
	all []netip.Addr // fam6 then fam4 addresses
}

type famState struct {
	stored    bool         // an answer (possibly "no such host") was stored
	addrs     []netip.Addr // the last good answer; nil with notFound
	notFound  error        // the upstream said there are no such addresses
	expires   time.Time    // the stored answer is fresh until then
	refreshAt time.Time    // a popular answer is refreshed from then on

	failErr     error     // the last upstream failure
	failedUntil time.Time // ...remembered until then (negative caching)
}

type flightKey struct {
	host string
	f    fam
}

// flight is one upstream query that every concurrent lookup of its host
// and family waits for.
type flight struct {
	done    chan struct{}
	started time.Time // wall time, for the response timer
	refresh *atomic.Bool

	// set before done is closed
	addrs []netip.Addr
	err   error
}

// Stats counts what a Cache did since New.
type Stats struct {
	Hits            int64 // lookups answered from the cache without asking the upstream (including remembered failures)
	Misses          int64 // lookups that asked the upstream (or joined a query in flight)
	UpstreamQueries int64 // queries sent upstream, one per host and address family, background refreshes included
	StaleServed     int64 // lookups answered with an expired answer because the upstream failed or was slow (RFC 8767)
	Refreshes       int64 // background refreshes of popular answers started
	Errors          int64 // lookups that returned an error
	Evictions       int64 // hosts dropped to stay within Config.MaxEntries
	Entries         int   // hosts cached now
}

// New returns a Cache configured by cfg (copied) and starts its background
// sweeper, which refreshes popular answers and forgets dead ones. Close
// stops it.
func New(cfg Config) *Cache {
	return newCache(cfg, nil)
}

// newCache is New with an injected clock; nil means the real one, read
// through the coarse clock on the hot path.
func newCache(cfg Config, now func() time.Time) *Cache {
	c := &Cache{
		cfg:             cfg,
		now:             now,
		resolver:        closingResolver(cfg.resolver()),
		dial:            cfg.dial(),
		ttl:             cfg.ttl(),
		staleLimit:      cfg.staleLimit(),
		negTTL:          cfg.negativeTTL(),
		refreshAhead:    cfg.refreshAhead(),
		responseTimeout: cfg.responseTimeout(),
		lookupTimeout:   cfg.lookupTimeout(),
		connectTimeout:  cfg.connectTimeout(),
		fallbackDelay:   cfg.fallbackDelay(),
		popular:         cfg.popularHits(),
		maxEntries:      cfg.maxEntries(),
		refreshSem:      make(chan struct{}, cfg.maxRefreshes()),
		flights:         make(map[flightKey]*flight),
	}
	switch cfg.Family {
	case FamilyIPv4:
		c.familyMask = mask4
	case FamilyIPv6:
		c.familyMask = mask6
	default:
		c.familyMask = maskBoth
	}
	if cfg.Fallback != nil {
		c.fallbackResolver = closingResolver(cfg.Fallback)
	}
	c.table.Store(&map[string]*entry{})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if now == nil {
		c.now = time.Now
		c.coarse = newCoarseClock()
		c.wg.Go(func() { c.coarse.run(c.ctx.Done()) })
	}
	c.wg.Add(1)
	go c.sweepLoop(c.sweepInterval())
	return c
}

// closingResolver returns a resolver that asks what r asks, but closes each
// connection to the DNS server when the context of its query ends. The
// pure-Go resolver only sets a deadline on that connection, so without this
// a query to a silent server keeps a goroutine reading its socket for the
// resolver's whole per-attempt timeout (5 s) after the caller gave up, and
// after Close.
func closingResolver(r *net.Resolver) *net.Resolver {
	dial := r.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return &net.Resolver{
		PreferGo:     r.PreferGo,
		StrictErrors: r.StrictErrors,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			conn, err := dial(ctx, network, address)
			if err != nil {
				return nil, err
			}
			// The conn itself is returned, not a wrapper: the resolver
			// tells UDP from TCP by its type.
			context.AfterFunc(ctx, func() { _ = conn.Close() })
			return conn, nil
		},
	}
}

// Close stops the background sweeper, cancels the upstream queries in
// flight and waits for them to end. Cached answers are still served after
// Close; lookups that would need the upstream fail with ErrClosed. Close is
// safe to call more than once.
func (c *Cache) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.cancel()
	})
	c.wg.Wait()
	return nil
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	n := len(*c.table.Load())
	return Stats{
		Hits:            c.hits.Load(),
		Misses:          c.misses.Load(),
		UpstreamQueries: c.queries.Load(),
		StaleServed:     c.stale.Load(),
		Refreshes:       c.refreshes.Load(),
		Errors:          c.errs.Load(),
		Evictions:       c.evictions.Load(),
		Entries:         n,
	}
}

// LookupNetIP returns the addresses of host, as net.Resolver.LookupNetIP
// does, from the cache when it can. network is "ip", "ip4" or "ip6",
// narrowed by Config.Family. For "ip" IPv6 addresses come first (RFC 8305
// section 4).
//
// The returned slice is shared with the cache and with other callers: it
// must not be modified. That is what makes a cached lookup free of
// allocations.
//
// An IP literal is returned as it is and "localhost" (and names under
// .localhost, RFC 6761) resolve to the loopback addresses, without the
// cache. A failure is a *LookupError wrapping the resolver's error.
func (c *Cache) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	addrs, _, err := c.lookup(ctx, network, host)
	return addrs, err
}

// Prewarm looks up each host (a name, host:port, or a base URL such as
// "https://api.openai.com/v1") in parallel so that the
// first calls to them find their answers cached: the reference's DNS
// pre-resolution, meant for the API hosts a client is configured with. It
// returns the failures joined, each a *LookupError naming its host.
func (c *Cache) Prewarm(ctx context.Context, hosts ...string) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		h = hostOf(h)
		wg.Go(func() {
			_, errs[i] = c.LookupNetIP(ctx, "ip", h)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// hostOf returns the host name in a name, host:port or URL.
func hostOf(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			return u.Hostname()
		}
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

func (c *Cache) networkMask(network string) (mask, bool) {
	switch network {
	case "ip":
		return maskBoth, true
	case "ip4":
		return mask4, true
	case "ip6":
		return mask6, true
	}
	return 0, false
}

// lookup is LookupNetIP that also returns the host's entry, when it has
// one, for DialContext's rotation.
func (c *Cache) lookup(ctx context.Context, network, host string) ([]netip.Addr, *entry, error) {
	m, ok := c.networkMask(network)
	if !ok {
		c.errs.Add(1)
		return nil, nil, &LookupError{Host: host, Err: net.UnknownNetworkError(network)}
	}
	if addrs, ok, err := bypass(m, host); ok {
		return addrs, nil, err
	}
	m &= c.familyMask
	if m == 0 {
		c.errs.Add(1)
		return nil, nil, &LookupError{Host: host, Err: ErrFamily}
	}

	now := c.fastNow()
	if e := (*c.table.Load())[host]; e != nil {
		s := e.snap.Load()
		if addrs := s.fresh(m, now); addrs != nil {
			refresh := c.noteHit(e, s, m, now)
			c.hits.Add(1)
			if refresh != 0 {
				c.refresh(e, refresh)
			}
			return addrs, e, nil
		}
	}
	return c.lookupSlow(ctx, host, m, now)
}

// fastNow is the clock of the hot path.
func (c *Cache) fastNow() time.Time {
	if c.coarse != nil {
		return c.coarse.now()
	}
	return c.now()
}

// fresh returns the cached addresses for the families in m when all of them
// are fresh and there is at least one address, else nil.
func (s *snapshot) fresh(m mask, now time.Time) []netip.Addr {
	for f := fam4; f <= fam6; f++ {
		if m.has(f) {
			fs := &s.fam[f]
			if !fs.stored || !now.Before(fs.expires) {
				return nil
			}
		}
	}
	switch m {
	case mask4:
		return s.fam[fam4].addrs
	case mask6:
		return s.fam[fam6].addrs
	}
	if len(s.all) == 0 {
		return nil
	}
	return s.all
}

// noteHit records a hit on the families in m of e and returns those due a
// background refresh; s is e's snapshot.
func (c *Cache) noteHit(e *entry, s *snapshot, m mask, now time.Time) mask {
	// Touch without writing when e is already the most recent: a hot host
	// then costs no contended write.
	if t := c.tick.Load(); e.used.Load() != t {
		e.used.Store(c.tick.Add(1))
	}
	var due mask
	for f := fam4; f <= fam6; f++ {
		if !m.has(f) {
			continue
		}
		h := e.hits[f].Load()
		if h < c.popular {
			h = e.hits[f].Add(1)
		}
		// A failed refresh is not retried while its failure is remembered,
		// or every hit in the window would ask the upstream again.
		if fs := &s.fam[f]; c.refreshAhead > 0 && h >= c.popular && !now.Before(fs.refreshAt) &&
			!now.Before(fs.failedUntil) && !e.refreshing[f].Load() {
			due |= 1 << f
		}
	}
	return due
}

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

// bypass answers IP literals and localhost without the cache.
func bypass(m mask, host string) ([]netip.Addr, bool, error) {
	if host == "" {
		return nil, true, &LookupError{Host: host, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	if looksLikeIP(host) {
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			if (ip.Is4() && !m.has(fam4)) || (ip.Is6() && !m.has(fam6)) {
				return nil, true, &LookupError{Host: host, Err: ErrFamily}
			}
			return []netip.Addr{ip}, true, nil
		}
	}
	if isLocalhost(host) {
		// RFC 6761 section 6.3: localhost is the loopback, never asked of
		// DNS. IPv4 first: local model servers (Ollama, llama.cpp) often
		// listen on 127.0.0.1 alone.
		var out []netip.Addr
		if m.has(fam4) {
			out = append(out, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		}
		if m.has(fam6) {
			out = append(out, netip.IPv6Loopback())
		}
		return out, true, nil
	}
	return nil, false, nil
}

// looksLikeIP reports whether host may be an IP literal: IPv6 has a colon,
// IPv4 only digits and dots. It spares names a failed netip.ParseAddr,
// whose error allocates.
func looksLikeIP(host string) bool {
	if strings.IndexByte(host, ':') >= 0 {
		return true
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func isLocalhost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	return strings.EqualFold(host, "localhost") ||
		(len(host) > len(".localhost") && strings.EqualFold(host[len(host)-len(".localhost"):], ".localhost"))
}

func (c *Cache) logDebug(msg string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Debug(msg, args...)
	}
}
