package main

import (
	"context"
	"fmt"
	"io"
)

// sections lists the report's parts in order.
func sections() []section {
	return []section{
		{Name: "matrix", Run: runMatrix},
		{Name: "scale", Run: runScale},
		{Name: "burst", Run: runBurst},
		{Name: "peers", Run: runGroups("Peer comparisons", peerGroups)},
		{Name: "overhead", Run: runGroups("Overhead of the layers", overheadGroups)},
	}
}

var peerGroups = []group{
	{
		Title: "SSE decoding", Pkg: "./bench/sse", Bench: "Decode", Benchtime: "300ms", Baseline: "llmhttp",
		Note: "Each op decodes one recorded stream of about 1,000 events (OpenAI- and Anthropic-shaped). " +
			"Peers: openai-go's ssestream, tmaxmax/go-sse, r3labs/sse. A ratio above 1 means the peer is slower.",
	},
	{
		Title: "Retry layer on a first-time success", Pkg: "./bench/retry", Bench: "FirstTimeSuccessInterleaved", Benchtime: "2000x",
		Note: "One loopback call through each contender per iteration, order rotating, so all see the same load; " +
			"the `peer/bare` metrics are each one's median call time over the bare transport's.",
	},
	{
		Title: "DNS cache", Pkg: "./bench/dnscache", Bench: "CachedLookup|CachedDial", Benchtime: "300ms", Baseline: "llmhttp",
		Note: "Cached lookups and dials against a local DNS server; the peer is rs/dnscache. A ratio above 1 means the peer is slower.",
	},
	{
		Title: "WebSocket message round trip", Pkg: "./bench/ws", Bench: "RoundTrip", Benchtime: "3000x", Baseline: "coder-bare",
		Note: "One realtime event out and its answer back, through llmhttp's ws (heartbeat and watchdog on) and through a bare coder/websocket connection.",
	},
}

var overheadGroups = []group{
	{
		Title: "Whole NewClient chain vs its bare transport", Pkg: ".", Bench: "Overhead", Benchtime: "3000x",
		Note: "A small non-streaming loopback call, alternating call by call between `llmhttp.NewClient` (every default layer on) " +
			"and a bare `transport.Transport`; `ratio` is 1 + the median paired difference (llmhttp − bare) over the median bare call. Budget: 1.03.",
	},
	{
		Title: "observe alone", Pkg: "./roundtripper/observe", Bench: "Overhead$", Benchtime: "3000x",
		Note: "The same call with and without the observe layer, interleaved; `ratio` is 1 + the median paired difference over the median bare call. Budget: 1.01.",
	},
	{
		Title: "transport vs plain http.Transport", Pkg: "./transport", Bench: "Overhead$", Benchtime: "3000x",
		Note: "A small loopback call through `transport.New`, a zero `http.Transport` and a clone of `http.DefaultTransport`, " +
			"interleaved in rounds with the order rotated; `ratio` is the median per-round ratio to the plain transport, " +
			"`ratio-vs-default` to the DefaultTransport clone.",
	},
	{
		Title: "janitor middleware", Pkg: "./janitor", Bench: "Middleware$", Benchtime: "3000x",
		Note: "A loopback call with and without the janitor (dial wrapper and middleware), interleaved in rounds; `ratio` is the median per-round ratio.",
	},
}

// runGroups returns a section that runs each group's benchmarks and writes
// their tables under one heading.
func runGroups(heading string, gs []group) func(ctx context.Context, e *env, w io.Writer) error {
	return func(ctx context.Context, e *env, w io.Writer) error {
		fmt.Fprintf(w, "## %s\n\n", heading)
		for _, g := range gs {
			fmt.Fprintf(e.Log, "   %s (%s)\n", g.Title, g.Pkg)
			res, err := runGroup(ctx, e.Root, e.Tmp, g, e.Rounds, e.Log)
			if err != nil {
				return err
			}
			writeGroup(w, g, e.Rounds, res)
		}
		return nil
	}
}
