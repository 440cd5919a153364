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

func (c *Cache) logDebug(msg string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Debug(msg, args...)
	}
}
