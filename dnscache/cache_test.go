package dnscache

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestCache returns a Cache on srv driven by clk, closed at cleanup.
func newTestCache(t *testing.T, srv *dnsServer, clk *fakeClock, cfg Config) *Cache {
	t.Helper()
	cfg.Resolver = srv.resolver()
	c := newCache(cfg, clk.Now)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// refreshingAny reports whether a background refresh of c is running.
func refreshingAny(c *Cache) bool {
	for _, e := range *c.table.Load() {
		if e.refreshing[fam4].Load() || e.refreshing[fam6].Load() {
			return true
		}
	}
	return false
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestConcurrentColdLookupsShareOneQuery(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("cold.test", "127.0.0.1", "::1")
	// A long response timer: lookups that come after the A answer was
	// stored must wait for the held AAAA answer too, not answer A alone.
	c := newTestCache(t, srv, newFakeClock(), Config{LookupTimeout: time.Minute, ResponseTimeout: time.Minute})
	srv.hold()

	const n = 10000
	var wg sync.WaitGroup
	results := make([][]netip.Addr, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = c.LookupNetIP(t.Context(), "ip", "cold.test")
		})
	}
	close(start)
	// Hold the answers until every caller has joined the queries in flight,
	// but for at most 3 s: the Go resolver resends a question after 5 s,
	// which the server would count as a second query.
	tick := time.NewTicker(5 * time.Millisecond)
	for deadline := time.Now().Add(3 * time.Second); c.Stats().Misses < n && time.Now().Before(deadline); {
		<-tick.C
	}
	tick.Stop()
	srv.open()
	wg.Wait()

	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, addrs("::1", "127.0.0.1"), results[i])
	}
	assert.Equal(t, 1, srv.count("cold.test", "A"))
	assert.Equal(t, 1, srv.count("cold.test", "AAAA"))
	st := c.Stats()
	assert.EqualValues(t, 2, st.UpstreamQueries)
	assert.EqualValues(t, n, st.Misses+st.Hits)
	assert.Zero(t, st.Errors)
}

func TestRequeriedAfterTTLNotBefore(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("ttl.test", "127.0.0.1")
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Minute, Family: FamilyIPv4, RefreshAhead: -1})
	ctx := t.Context()

	got, err := c.LookupNetIP(ctx, "ip", "ttl.test")
	require.NoError(t, err)
	require.Equal(t, addrs("127.0.0.1"), got)
	require.Equal(t, 1, srv.count("ttl.test", "A"))

	srv.set("ttl.test", "127.0.0.2")
	for _, d := range []time.Duration{time.Second, 30 * time.Second, 29*time.Second - 1} {
		clk.Advance(d)
		got, err = c.LookupNetIP(ctx, "ip", "ttl.test")
		require.NoError(t, err)
		assert.Equal(t, addrs("127.0.0.1"), got, "still fresh")
	}
	assert.Equal(t, 1, srv.count("ttl.test", "A"))

	clk.Advance(1) // exactly TTL after the answer
	got, err = c.LookupNetIP(ctx, "ip", "ttl.test")
	require.NoError(t, err)
	assert.Equal(t, addrs("127.0.0.2"), got)
	assert.Equal(t, 2, srv.count("ttl.test", "A"))
	assert.Zero(t, srv.count("ttl.test", "AAAA"), "FamilyIPv4 asks no AAAA")

	st := c.Stats()
	assert.EqualValues(t, 3, st.Hits)
	assert.EqualValues(t, 2, st.Misses)
	assert.EqualValues(t, 2, st.UpstreamQueries)
}

func TestStaleServing(t *testing.T) {
	tests := []struct {
		name  string
		fault func(*dnsServer)
		max   time.Duration // how long the stale answer may take
	}{
		// RFC 8767: answer from stale data after the 1.8 s client response
		// timer, not after the resolver's own 10 s of retries.
		{"silent upstream", func(s *dnsServer) { s.setSilent(true) }, 4 * time.Second},
		{"server failure", func(s *dnsServer) { s.setServfail(true) }, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newDNSServer(t)
			srv.set("stale.test", "127.0.0.1")
			clk := newFakeClock()
			c := newTestCache(t, srv, clk, Config{
				TTL: time.Minute, StaleLimit: time.Hour, NegativeTTL: 30 * time.Second,
				Family: FamilyIPv4, LookupTimeout: 2500 * time.Millisecond,
			})
			ctx := t.Context()
			_, err := c.LookupNetIP(ctx, "ip", "stale.test")
			require.NoError(t, err)

			tt.fault(srv)
			clk.Advance(2 * time.Minute)
			start := time.Now()
			got, err := c.LookupNetIP(ctx, "ip", "stale.test")
			elapsed := time.Since(start)
			require.NoError(t, err)
			assert.Equal(t, addrs("127.0.0.1"), got)
			assert.Less(t, elapsed, tt.max)
			assert.EqualValues(t, 2, c.Stats().UpstreamQueries)
			assert.EqualValues(t, 1, c.Stats().StaleServed)

			// Once the failure is known (the silent query is still
			// running, or the failure is remembered), stale answers come
			// at once.
			start = time.Now()
			got, err = c.LookupNetIP(ctx, "ip", "stale.test")
			require.NoError(t, err)
			assert.Equal(t, addrs("127.0.0.1"), got)
			assert.Less(t, time.Since(start), time.Second)
			assert.EqualValues(t, 2, c.Stats().StaleServed)

			// Beyond the stale limit there is nothing to serve.
			require.Eventually(t, func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return len(c.flights) == 0
			}, 10*time.Second, 5*time.Millisecond)
			clk.Advance(2 * time.Hour)
			srv.setSilent(false)
			srv.setServfail(true)
			_, err = c.LookupNetIP(ctx, "ip", "stale.test")
			var le *LookupError
			require.ErrorAs(t, err, &le)
			assert.True(t, roundtripper.NotSent(err))
		})
	}
}

func TestStaleServedWhenTheCallerCannotWait(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("hurry.test", "127.0.0.1")
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Minute, Family: FamilyIPv4, LookupTimeout: 500 * time.Millisecond})
	_, err := c.LookupNetIP(t.Context(), "ip", "hurry.test")
	require.NoError(t, err)
	srv.setSilent(true)
	clk.Advance(2 * time.Minute)

	// The caller's deadline comes before the 1.8 s response timer.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	got, err := c.LookupNetIP(ctx, "ip", "hurry.test")
	require.NoError(t, err)
	assert.Equal(t, addrs("127.0.0.1"), got)
	assert.EqualValues(t, 1, c.Stats().StaleServed)
}

func TestStaleServingDisabledWaitsForTheUpstream(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("nostale.test", "127.0.0.1")
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Minute, StaleLimit: -1, Family: FamilyIPv4, LookupTimeout: 300 * time.Millisecond})
	_, err := c.LookupNetIP(t.Context(), "ip", "nostale.test")
	require.NoError(t, err)
	srv.setSilent(true)
	clk.Advance(2 * time.Minute)
	_, err = c.LookupNetIP(t.Context(), "ip", "nostale.test")
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, c.Stats().StaleServed)
}

func TestNegativeCaching(t *testing.T) {
	srv := newDNSServer(t)
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{NegativeTTL: 10 * time.Second})
	ctx := t.Context()

	_, err := c.LookupNetIP(ctx, "ip", "dead.test")
	var le *LookupError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "dead.test", le.Host)
	assert.False(t, le.Cached)
	assert.True(t, le.IsNotFound())
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	assert.True(t, de.IsNotFound)
	assert.True(t, roundtripper.NotSent(err))
	assert.Equal(t, 1, srv.count("dead.test", "A"))
	assert.Equal(t, 1, srv.count("dead.test", "AAAA"))

	clk.Advance(9 * time.Second)
	_, err = c.LookupNetIP(ctx, "ip", "dead.test")
	require.ErrorAs(t, err, &le)
	assert.True(t, le.Cached)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 1, srv.count("dead.test", "A"), "the dead name is not asked again")

	// The name comes to life; once the negative TTL is over it is seen.
	srv.set("dead.test", "127.0.0.1")
	clk.Advance(time.Second)
	got, err := c.LookupNetIP(ctx, "ip", "dead.test")
	require.NoError(t, err)
	assert.Equal(t, addrs("127.0.0.1"), got)
	assert.Equal(t, 2, srv.count("dead.test", "A"))

	st := c.Stats()
	assert.EqualValues(t, 2, st.Errors)
	assert.EqualValues(t, 1, st.Hits)
	assert.EqualValues(t, 2, st.Misses)
}

func TestFailureIsRememberedWithoutStaleAnswer(t *testing.T) {
	srv := newDNSServer(t)
	srv.setServfail(true)
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{Family: FamilyIPv4})
	for range 3 {
		_, err := c.LookupNetIP(t.Context(), "ip", "broken.test")
		var de *net.DNSError
		require.ErrorAs(t, err, &de)
		assert.False(t, de.IsNotFound)
	}
	// The Go resolver itself may ask twice on SERVFAIL; the cache asks once.
	assert.EqualValues(t, 1, c.Stats().UpstreamQueries)
	assert.EqualValues(t, 3, c.Stats().Errors)
}

func TestFallbackResolver(t *testing.T) {
	broken := newDNSServer(t)
	broken.setSilent(true)
	good := newDNSServer(t)
	good.set("api.test", "127.0.0.1")
	c := newCache(Config{
		Resolver: broken.resolver(), Fallback: good.resolver(),
		Family: FamilyIPv4, LookupTimeout: 300 * time.Millisecond,
	}, newFakeClock().Now)
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	got, err := c.LookupNetIP(t.Context(), "ip", "api.test")
	require.NoError(t, err)
	assert.Equal(t, addrs("127.0.0.1"), got)
	assert.Equal(t, 1, good.count("api.test", "A"))

	// "No such host" is an answer: the fallback is not asked.
	_, err = c.LookupNetIP(t.Context(), "ip", "gone.test")
	require.Error(t, err)
	broken.setSilent(false)
	_, err = c.LookupNetIP(t.Context(), "ip", "gone2.test")
	require.Error(t, err)
	assert.Zero(t, good.count("gone2.test", "A"))
}

func TestMissingFamilyIsAnAnswer(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("v4only.test", "127.0.0.1")
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Minute, NegativeTTL: time.Second, RefreshAhead: -1})
	ctx := t.Context()
	for range 5 {
		got, err := c.LookupNetIP(ctx, "ip", "v4only.test")
		require.NoError(t, err)
		assert.Equal(t, addrs("127.0.0.1"), got)
		clk.Advance(10 * time.Second)
	}
	// Without AAAA records the name is not asked again every NegativeTTL.
	assert.Equal(t, 1, srv.count("v4only.test", "AAAA"))
	assert.Equal(t, 1, srv.count("v4only.test", "A"))

	_, err := c.LookupNetIP(ctx, "ip6", "v4only.test")
	var le *LookupError
	require.ErrorAs(t, err, &le)
	assert.True(t, le.IsNotFound())
}

func TestDroppedAAAADoesNotHoldUpCachedA(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("noaaaa.test", "127.0.0.1", "::1")
	srv.mu.Lock()
	srv.dropAAAA = true
	srv.mu.Unlock()
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{
		TTL: time.Hour, NegativeTTL: time.Minute, RefreshAhead: -1,
		LookupTimeout: 2 * time.Second, ResponseTimeout: 200 * time.Millisecond,
	})

	// Cold, both families are waited for: the AAAA query times out.
	start := time.Now()
	got, err := c.LookupNetIP(t.Context(), "ip", "noaaaa.test")
	require.NoError(t, err)
	assert.Equal(t, addrs("127.0.0.1"), got)
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second)

	// The AAAA failure is remembered: A answers at once.
	start = time.Now()
	_, err = c.LookupNetIP(t.Context(), "ip", "noaaaa.test")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second)

	// Once it is forgotten, the cached A waits for the new AAAA query
	// only a response timer, not the lookup timeout.
	clk.Advance(2 * time.Minute)
	start = time.Now()
	got, err = c.LookupNetIP(t.Context(), "ip", "noaaaa.test")
	require.NoError(t, err)
	assert.Equal(t, addrs("127.0.0.1"), got)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	assert.EqualValues(t, 3, c.Stats().UpstreamQueries, "A once, AAAA twice")
}

func TestBackgroundRefreshOfPopularHosts(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("hot.test", "127.0.0.1")
	srv.set("cold.test", "127.0.0.1")
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Minute, Family: FamilyIPv4})
	ctx := t.Context()

	for range 5 {
		_, err := c.LookupNetIP(ctx, "ip", "hot.test")
		require.NoError(t, err)
	}
	_, err := c.LookupNetIP(ctx, "ip", "cold.test")
	require.NoError(t, err)
	srv.set("hot.test", "127.0.0.2")

	// 55 s in, within the last tenth of the TTL: the sweeper refreshes the
	// popular host on its own, the cold one is left alone.
	clk.Advance(55 * time.Second)
	require.Eventually(t, func() bool { return srv.count("hot.test", "A") == 2 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		got, err := c.LookupNetIP(ctx, "ip", "hot.test")
		return err == nil && got[0] == netip.MustParseAddr("127.0.0.2")
	}, 10*time.Second, 5*time.Millisecond)

	// Past the first answer's expiry the hot host is still a hit.
	clk.Advance(10 * time.Second)
	misses := c.Stats().Misses
	_, err = c.LookupNetIP(ctx, "ip", "hot.test")
	require.NoError(t, err)
	assert.Equal(t, misses, c.Stats().Misses, "a hot host never waits for a lookup")
	assert.Equal(t, 1, srv.count("cold.test", "A"))
	assert.GreaterOrEqual(t, c.Stats().Refreshes, int64(1))
}

func TestRefreshTriggeredByAHit(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("hit.test", "127.0.0.1")
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Hour, RefreshAhead: time.Minute, PopularHits: 1, Family: FamilyIPv4})
	_, err := c.LookupNetIP(t.Context(), "ip", "hit.test")
	require.NoError(t, err)
	clk.Advance(59*time.Minute + 30*time.Second)
	_, err = c.LookupNetIP(t.Context(), "ip", "hit.test")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return srv.count("hit.test", "A") == 2 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return c.Stats().Refreshes == 1 }, 10*time.Second, 5*time.Millisecond)
}

func TestFailedRefreshIsNotRetriedAtEachHit(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("flaky.test", "127.0.0.1")
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Hour, RefreshAhead: time.Minute, PopularHits: 1, NegativeTTL: 30 * time.Second, Family: FamilyIPv4})
	_, err := c.LookupNetIP(t.Context(), "ip", "flaky.test")
	require.NoError(t, err)
	srv.setServfail(true)
	clk.Advance(59*time.Minute + 10*time.Second)
	_, err = c.LookupNetIP(t.Context(), "ip", "flaky.test")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.Stats().Refreshes == 1 && !refreshingAny(c) }, 10*time.Second, 5*time.Millisecond)

	for range 20 {
		got, err := c.LookupNetIP(t.Context(), "ip", "flaky.test")
		require.NoError(t, err)
		assert.Equal(t, addrs("127.0.0.1"), got, "the answer is still fresh")
	}
	c.sweep(clk.Now())
	assert.EqualValues(t, 1, c.Stats().Refreshes)
	assert.EqualValues(t, 2, c.Stats().UpstreamQueries)

	// After the negative TTL the refresh is tried again.
	clk.Advance(31 * time.Second)
	_, err = c.LookupNetIP(t.Context(), "ip", "flaky.test")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.Stats().Refreshes == 2 }, 10*time.Second, 5*time.Millisecond)
}

func TestLeastRecentlyUsedIsEvicted(t *testing.T) {
	srv := newDNSServer(t)
	for _, h := range []string{"a.test", "b.test", "c.test"} {
		srv.set(h, "127.0.0.1")
	}
	c := newTestCache(t, srv, newFakeClock(), Config{MaxEntries: 2, Family: FamilyIPv4})
	ctx := t.Context()
	for _, h := range []string{"a.test", "b.test", "a.test", "c.test"} {
		_, err := c.LookupNetIP(ctx, "ip", h)
		require.NoError(t, err)
	}
	st := c.Stats()
	assert.Equal(t, 2, st.Entries)
	assert.EqualValues(t, 1, st.Evictions)

	_, err := c.LookupNetIP(ctx, "ip", "a.test")
	require.NoError(t, err)
	assert.Equal(t, 1, srv.count("a.test", "A"), "a was used recently and kept")
	_, err = c.LookupNetIP(ctx, "ip", "b.test")
	require.NoError(t, err)
	assert.Equal(t, 2, srv.count("b.test", "A"), "b was the least recently used and dropped")
}

func TestFamilies(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("dual.test", "127.0.0.1", "127.0.0.2", "::1")
	tests := []struct {
		name    string
		family  Family
		network string
		want    []netip.Addr
		wantErr error
		a, aaaa int
	}{
		{"both ip", FamilyBoth, "ip", addrs("::1", "127.0.0.1", "127.0.0.2"), nil, 1, 1},
		{"both ip4", FamilyBoth, "ip4", addrs("127.0.0.1", "127.0.0.2"), nil, 1, 0},
		{"both ip6", FamilyBoth, "ip6", addrs("::1"), nil, 0, 1},
		{"v4 ip", FamilyIPv4, "ip", addrs("127.0.0.1", "127.0.0.2"), nil, 1, 0},
		{"v6 ip", FamilyIPv6, "ip", addrs("::1"), nil, 0, 1},
		{"v4 ip6", FamilyIPv4, "ip6", nil, ErrFamily, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, srv, newFakeClock(), Config{Family: tt.family})
			a0, aaaa0 := srv.count("dual.test", "A"), srv.count("dual.test", "AAAA")
			got, err := c.LookupNetIP(t.Context(), tt.network, "dual.test")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
			assert.Equal(t, tt.a, srv.count("dual.test", "A")-a0)
			assert.Equal(t, tt.aaaa, srv.count("dual.test", "AAAA")-aaaa0)
		})
	}
}

func TestBypass(t *testing.T) {
	srv := newDNSServer(t)
	c := newTestCache(t, srv, newFakeClock(), Config{})
	tests := []struct {
		network, host string
		want          []netip.Addr
	}{
		{"ip", "192.0.2.7", addrs("192.0.2.7")},
		{"ip", "2001:db8::1", addrs("2001:db8::1")},
		{"ip", "::ffff:10.0.0.1", addrs("10.0.0.1")},
		{"ip", "localhost", addrs("127.0.0.1", "::1")},
		{"ip4", "LocalHost.", addrs("127.0.0.1")},
		{"ip6", "api.localhost", addrs("::1")},
	}
	for _, tt := range tests {
		got, err := c.LookupNetIP(t.Context(), tt.network, tt.host)
		require.NoError(t, err, tt.host)
		assert.Equal(t, tt.want, got, tt.host)
	}
	_, err := c.LookupNetIP(t.Context(), "ip6", "192.0.2.7")
	assert.ErrorIs(t, err, ErrFamily)
	_, err = c.LookupNetIP(t.Context(), "tcp", "example.test")
	var unk net.UnknownNetworkError
	assert.ErrorAs(t, err, &unk)
	assert.Zero(t, srv.total())
	assert.Zero(t, c.Stats().UpstreamQueries)
}

func TestPrewarm(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("api.openai.test", "127.0.0.1")
	srv.set("api.anthropic.test", "127.0.0.2")
	c := newTestCache(t, srv, newFakeClock(), Config{Family: FamilyIPv4})

	err := c.Prewarm(t.Context(), "https://api.openai.test/v1", "api.anthropic.test:443", "gone.test")
	var le *LookupError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "gone.test", le.Host)
	assert.Contains(t, err.Error(), "gone.test")

	misses := c.Stats().Misses
	for _, h := range []string{"api.openai.test", "api.anthropic.test"} {
		_, err := c.LookupNetIP(t.Context(), "ip", h)
		require.NoError(t, err)
	}
	assert.Equal(t, misses, c.Stats().Misses, "prewarmed hosts are hits")
}

func TestCallerLeavesWhileTheQueryGoesOn(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("slow.test", "127.0.0.1")
	srv.hold()
	c := newTestCache(t, srv, newFakeClock(), Config{Family: FamilyIPv4, LookupTimeout: time.Minute})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := c.LookupNetIP(ctx, "ip", "slow.test")
		done <- err
	}()
	require.Eventually(t, func() bool { return srv.count("slow.test", "A") == 1 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, roundtripper.NotSent(err))

	// The query was not abandoned: its answer fills the cache.
	srv.open()
	require.Eventually(t, func() bool { return c.Stats().Entries == 1 }, 10*time.Second, 5*time.Millisecond)
	got, err := c.LookupNetIP(t.Context(), "ip", "slow.test")
	require.NoError(t, err)
	assert.Equal(t, addrs("127.0.0.1"), got)
	assert.Equal(t, 1, srv.count("slow.test", "A"))
}

func TestClose(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("kept.test", "127.0.0.1")
	srv.set("held.test", "127.0.0.1")
	cfg := Config{Family: FamilyIPv4, Resolver: srv.resolver()}
	c := New(cfg)
	_, err := c.LookupNetIP(t.Context(), "ip", "kept.test")
	require.NoError(t, err)

	// A query in flight is cancelled by Close, and its caller released.
	srv.hold()
	done := make(chan error)
	go func() {
		_, err := c.LookupNetIP(t.Context(), "ip", "held.test")
		done <- err
	}()
	require.Eventually(t, func() bool { return srv.count("held.test", "A") == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	assert.ErrorIs(t, <-done, ErrClosed)

	got, err := c.LookupNetIP(t.Context(), "ip", "kept.test")
	require.NoError(t, err, "cached answers outlive Close")
	assert.Equal(t, addrs("127.0.0.1"), got)
	_, err = c.LookupNetIP(t.Context(), "ip", "new.test")
	assert.ErrorIs(t, err, ErrClosed)
	assert.True(t, roundtripper.NotSent(err))
}

func TestLookupErrorText(t *testing.T) {
	err := &LookupError{Host: "api.example.com", Cached: true, Err: errors.New("server misbehaving")}
	assert.Equal(t, "dnscache: lookup api.example.com (cached failure): server misbehaving", err.Error())
}

func TestRefreshesAreBounded(t *testing.T) {
	srv := newDNSServer(t)
	hosts := []string{"h1.test", "h2.test", "h3.test"}
	for _, h := range hosts {
		srv.set(h, "127.0.0.1")
	}
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Minute, Family: FamilyIPv4, MaxRefreshes: 1, PopularHits: 1})
	for _, h := range hosts {
		for range 2 {
			_, err := c.LookupNetIP(t.Context(), "ip", h)
			require.NoError(t, err)
		}
	}
	srv.hold() // refresh queries hang until the end of the test
	clk.Advance(59 * time.Second)
	c.sweep(clk.Now())
	c.sweep(clk.Now())
	require.Eventually(t, func() bool { return srv.total() == len(hosts)+1 }, 10*time.Second, 5*time.Millisecond)
	assert.EqualValues(t, 1, c.Stats().Refreshes, "one refresh slot")

	// Lookups of the hosts are still answered from the cache meanwhile.
	for _, h := range hosts {
		_, err := c.LookupNetIP(t.Context(), "ip", h)
		require.NoError(t, err)
	}
	assert.EqualValues(t, len(hosts), c.Stats().Misses)
}

func TestSweepForgetsDeadEntries(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("live.test", "127.0.0.1")
	clk := newFakeClock()
	c := newTestCache(t, srv, clk, Config{TTL: time.Minute, StaleLimit: time.Minute, NegativeTTL: time.Second, Family: FamilyIPv4})
	_, err := c.LookupNetIP(t.Context(), "ip", "live.test")
	require.NoError(t, err)
	_, err = c.LookupNetIP(t.Context(), "ip", "dead.test")
	require.Error(t, err)
	require.Equal(t, 2, c.Stats().Entries)

	clk.Advance(2 * time.Second)
	c.sweep(clk.Now())
	assert.Equal(t, 1, c.Stats().Entries, "the failure is forgotten")
	clk.Advance(2 * time.Minute)
	c.sweep(clk.Now())
	assert.Equal(t, 0, c.Stats().Entries, "past TTL and stale limit nothing is left")
}
