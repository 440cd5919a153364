// Package transport builds an *http.Transport tuned for LLM APIs and puts a
// pool admission gate in front of it.
//
// Long calls (30–120 s) and streams that stay open for minutes make net/http's
// defaults a poor fit: MaxIdleConnsPerHost of 2 makes a burst of 100
// concurrent calls open and throw away connections, and when MaxConnsPerHost
// is reached a request waits for a connection until its context ends. This
// package keeps what net/http gets right (proxies from the environment,
// HTTP/2 on TLS, bodies streamed and never buffered) and fixes the rest:
//
//   - idle pools sized like the connection limits, so bursts reuse connections;
//   - a pool timeout: a request that cannot get a slot within
//     [Config.PoolTimeout] fails with an error matching [ErrPoolTimeout],
//     which says that nothing was sent, so a retry decorator may repeat it;
//     waiters are served in arrival order. The limits count requests in
//     flight, held until the response body is read or closed: over HTTP/1.1
//     that is the number of busy connections, over HTTP/2 (one connection,
//     many streams) the number of concurrent streams;
//   - TCP keep-alive probes through [net.KeepAliveConfig] (60 s idle, 10 s
//     interval, 3 probes) so NAT gateways and load balancers do not drop
//     quiet connections unnoticed;
//   - HTTP/2 health-check pings on by default (a ping after 30 s without a
//     frame, the connection dropped after 15 s without an answer);
//   - h2c (HTTP/2 without TLS, prior knowledge) for local inference servers;
//   - presets for the workloads of the reference's last table
//     ([LowConcurrency], [MediumConcurrency], [HighConcurrency], [Streaming],
//     [LocalInference]);
//   - per-host statistics ([Transport.Stats]).
//
// The dial hook [Config.DialContext] is where a caching resolver (dnscache)
// and the connection janitor (janitor.WrapDial) plug in; this package imports
// neither.
//
// Most callers want:
//
//	client := &http.Client{Transport: transport.New(transport.MediumConcurrency)}
package transport
