package dnscache

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Family says which address families a Cache looks up and dials.
type Family int

const (
	// FamilyBoth looks up A and AAAA records (the zero value). DialContext
	// races the families in the Happy Eyeballs manner.
	FamilyBoth Family = iota
	// FamilyIPv4 looks up A records only, sparing the AAAA query (the
	// reference's family=AF_INET advice for hosts without useful IPv6).
	FamilyIPv4
	// FamilyIPv6 looks up AAAA records only.
	FamilyIPv6
)

// String returns "both", "ipv4" or "ipv6".
func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	case FamilyBoth:
		return "both"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// Config configures a Cache. The zero value is useful: every field says what
// zero means. New copies the Config, so later changes to it have no effect.
type Config struct {
	// TTL is how long an answer is fresh. Zero means 5 minutes (the
	// reference's 5–10 minute DNS cache). The upstream's own record TTLs are
	// not visible through net.Resolver and are not used.
	TTL time.Duration

	// Resolver is the upstream. Nil means net.DefaultResolver.
	Resolver *net.Resolver

	// Fallback is asked when Resolver fails or times out (not when it
	// says a name does not exist): the reference's "switch DNS" on a
	// failed lookup, e.g. a public resolver behind a flaky local one. It
	// gets a LookupTimeout of its own. Nil means none.
	Fallback *net.Resolver

	// Family chooses the address families to look up and dial. Zero
	// (FamilyBoth) means IPv4 and IPv6.
	Family Family

	// StaleLimit is how long after it expired an answer may still be served
	// when the upstream fails or does not answer in time (RFC 8767's maximum
	// stale timer). Zero means 24 hours, the lower end of RFC 8767's advice;
	// negative turns stale serving off.
	StaleLimit time.Duration

	// ResponseTimeout is how long a lookup waits for the upstream before it
	// answers with a stale answer it has (RFC 8767's client response timer).
	// The upstream query goes on in the background and refreshes the cache
	// if it succeeds. Zero means 1.8 s, RFC 8767's value. A lookup with no
	// stale answer waits up to LookupTimeout.
	ResponseTimeout time.Duration

	// LookupTimeout bounds one upstream query (per host and family), which
	// the system resolver would otherwise retry for 10 s and more. Zero means
	// 5 s, the upper end of the reference's 3–5 s DNS timeout.
	LookupTimeout time.Duration

	// NegativeTTL is how long a failure is remembered: a name that does not
	// exist, or an upstream that failed or timed out. While it is remembered,
	// lookups get the stale answer (if any) or the failure at once, without
	// asking the upstream again. Zero means 5 s; negative turns negative
	// caching off.
	NegativeTTL time.Duration

	// RefreshAhead is how long before expiry a popular answer is refreshed
	// in the background, so a hot host never waits for a lookup. Zero means
	// a tenth of TTL (the prefetch point of resolvers such as Unbound);
	// negative turns background refresh off.
	RefreshAhead time.Duration

	// PopularHits is how many cache hits an answer must have had since it
	// was stored to be refreshed in the background. Zero means 3.
	PopularHits int

	// MaxRefreshes bounds the background refreshes running at once; a
	// popular answer that finds no free slot is refreshed on a later pass.
	// Zero means 4.
	MaxRefreshes int

	// MaxEntries bounds the number of hosts cached; the least recently used
	// host is dropped to make room. Zero means 10,000.
	MaxEntries int

	// ConnectTimeout bounds one connection attempt to one address when
	// DialContext has another address to try after it; the last address
	// left gets the rest of the caller's context. Zero means 2 s (the
	// reference's autoSelectFamilyAttemptTimeout, and the least time Go's
	// own dialer gives one address); negative means no per-address limit.
	ConnectTimeout time.Duration

	// FallbackDelay is how long DialContext gives the preferred address
	// family before it starts dialing the other one in parallel (RFC 8305
	// Happy Eyeballs). Zero means 300 ms, Go's own fallback delay; negative
	// turns the race off, so the other family is tried only after every
	// address of the first one failed.
	FallbackDelay time.Duration

	// Dial makes one connection to one IP address (and, for IP literals and
	// localhost, to the address as given). Nil means the DialContext of a
	// zero net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	// Logger receives debug records of upstream failures, stale answers and
	// evictions. Nil means no logging.
	Logger *slog.Logger
}

func (c *Config) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return 5 * time.Minute
}

func (c *Config) resolver() *net.Resolver {
	if c.Resolver != nil {
		return c.Resolver
	}
	return net.DefaultResolver
}

func (c *Config) staleLimit() time.Duration {
	switch {
	case c.StaleLimit < 0:
		return 0
	case c.StaleLimit == 0:
		return 24 * time.Hour
	}
	return c.StaleLimit
}

func (c *Config) responseTimeout() time.Duration {
	if c.ResponseTimeout > 0 {
		return c.ResponseTimeout
	}
	// RFC 8767 section 5: "a client response timer of 1.8 seconds".
	return 1800 * time.Millisecond
}

func (c *Config) lookupTimeout() time.Duration {
	if c.LookupTimeout > 0 {
		return c.LookupTimeout
	}
	return 5 * time.Second
}

func (c *Config) negativeTTL() time.Duration {
	switch {
	case c.NegativeTTL < 0:
		return 0
	case c.NegativeTTL == 0:
		return 5 * time.Second
	}
	return c.NegativeTTL
}

// refreshAhead returns 0 when background refresh is off.
func (c *Config) refreshAhead() time.Duration {
	switch {
	case c.RefreshAhead < 0:
		return 0
	case c.RefreshAhead == 0:
		return c.ttl() / 10
	}
	return min(c.RefreshAhead, c.ttl())
}

func (c *Config) popularHits() int64 {
	if c.PopularHits > 0 {
		return int64(c.PopularHits)
	}
	return 3
}

func (c *Config) maxRefreshes() int {
	if c.MaxRefreshes > 0 {
		return c.MaxRefreshes
	}
	return 4
}

func (c *Config) maxEntries() int {
	if c.MaxEntries > 0 {
		return c.MaxEntries
	}
	return 10000
}

// connectTimeout returns 0 when there is no per-address limit.
func (c *Config) connectTimeout() time.Duration {
	switch {
	case c.ConnectTimeout < 0:
		return 0
	case c.ConnectTimeout == 0:
		return 2 * time.Second
	}
	return c.ConnectTimeout
}

// fallbackDelay returns a negative value when the race is off.
func (c *Config) fallbackDelay() time.Duration {
	if c.FallbackDelay == 0 {
		// 300ms is the same as Go's Happy Eyeballs fallbackDelay value
		// (RFC 8305 recommends 250ms for its Connection Attempt Delay).
		return 300 * time.Millisecond
	}
	return c.FallbackDelay
}

func (c *Config) dial() func(ctx context.Context, network, address string) (net.Conn, error) {
	if c.Dial != nil {
		return c.Dial
	}
	var d net.Dialer
	return d.DialContext
}
