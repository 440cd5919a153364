// Package sse reads server-sent event streams, the wire format of streamed
// LLM completions, and watches them for stalls.
//
// [Reader] decodes a text/event-stream exactly as the WHATWG HTML standard
// says, at several GB/s and without allocating per event. Most callers want:
//
//	r := sse.NewReader(resp.Body)
//	for ev, err := range r.All() {
//		if err != nil { ... }
//		if ev.IsDone() { break } // OpenAI's "data: [DONE]"
//		...
//	}
//
// [Watchdog] is a roundtripper.Middleware that holds a streamed response until
// its first token, cancels an attempt whose first token does not come within
// [WatchdogConfig.FirstTokenTimeout], cuts a stream that stalls for longer
// than [WatchdogConfig.TokenIntervalTimeout] between tokens, and reports a
// stream that ends without its terminal event as [ErrTruncated]. Put the
// retry decorator outside it: an attempt that fails before its first token
// returns an error that says Replayable() == true, so the caller never sees
// it; one that fails later reaches the caller as a typed error.
//
// The server may bill an abandoned attempt: the request reached it, and it
// may have generated (and counted) tokens the caller never received. A caller
// who cannot accept that turns retries of replayable errors off in the retry
// decorator, or raises FirstTokenTimeout.
package sse
