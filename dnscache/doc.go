// Package dnscache is a caching resolver and dialer for LLM API clients: a
// call never waits on a DNS answer the process already has.
//
// A [Cache] keeps each host's answers per address family (A and AAAA) for
// [Config.TTL]. Concurrent lookups of one host share one upstream query per
// family (singleflight). Popular answers are refreshed in the background
// shortly before they expire, so a hot host never pays a lookup on the
// request path. When the upstream fails, or stays silent for the 1.8 s
// client response timer, an expired answer is served instead (RFC 8767),
// up to [Config.StaleLimit] past its expiry, rather than after the
// system resolver's own 10 s and more of retries. Failures, and names that
// do not exist, are remembered for [Config.NegativeTTL] so that a dead name
// is not hammered. Memory is bounded by [Config.MaxEntries], least recently
// used hosts out. [Cache.Stats] counts hits, misses, upstream queries,
// stale answers, refreshes and errors.
//
// [Cache.Prewarm] resolves the API hosts at start-up (the reference's DNS
// pre-resolution), and [Config.Family] chooses IPv4 only (no AAAA queries,
// as the reference suggests), IPv6 only, or both (the default).
//
// [Cache.DialContext] is the call most users want: hand it to an
// http.Transport (or to the janitor's dial wrapper) and every new connection
// uses the cached addresses, spread over them in turn, moving on to the next
// address when one refuses or does not connect within
// [Config.ConnectTimeout], and racing the address families in the Happy
// Eyeballs manner (RFC 8305), closing the losers. IP literals and localhost
// bypass the cache.
//
//	c := dnscache.New(dnscache.Config{})
//	defer c.Close()
//	_ = c.Prewarm(ctx, "api.openai.com", "api.anthropic.com")
//	tr := &http.Transport{DialContext: c.DialContext}
//
// It sits at the bottom of the recommended stack, under the janitor's dial
// wrapper and over a net.Dialer. Its errors, [LookupError] and [DialError],
// wrap the *net.DNSError or *net.OpError behind them and report
// NotSent() == true (see roundtripper.NotSent): nothing reached the server,
// so retry and health may repeat such calls.
//
// Time is read from an injectable clock in the package's tests; on the hot
// path the real clock is read from memory, refreshed every 10 ms, because a
// system call to read it would cost more than the rest of a cached lookup.
package dnscache
