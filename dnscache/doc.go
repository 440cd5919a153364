// Package dnscache is a caching resolver and dialer for LLM API clients: a
// call never waits on a DNS answer the process already has.
//
// A [Cache] keeps each host's answers per address family for [Config.TTL],
// joins concurrent lookups of one host into a single upstream query, refreshes
// popular hosts in the background shortly before their answers expire, serves
// an expired answer (RFC 8767) when the upstream fails or stays silent for
// about 2 s, and remembers failures briefly so that a dead name is not
// hammered. [Cache.Prewarm] resolves the API hosts at start-up.
//
// [Cache.DialContext] is the call most users want: hand it to an
// http.Transport (or to the janitor's dial wrapper) and every new connection
// uses the cached addresses, spread over them in turn, moving on to the next
// address when one refuses or times out, and racing the address families in
// the Happy Eyeballs manner (RFC 8305).
//
//	c := dnscache.New(dnscache.Config{})
//	defer c.Close()
//	_ = c.Prewarm(ctx, "api.openai.com", "api.anthropic.com")
//	tr := &http.Transport{DialContext: c.DialContext}
//
// It sits at the bottom of the recommended stack, under the janitor's dial
// wrapper and over a net.Dialer. Its errors say "nothing reached the server"
// through roundtripper.NotSent, so retry and health may repeat such calls.
package dnscache
