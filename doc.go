// Package llmhttp assembles llmhttp's packages into the recommended HTTP
// client for LLM APIs (OpenAI, Anthropic, Azure OpenAI, vLLM, Ollama,
// llama.cpp). Most callers want NewClient with a zero Config:
//
//	c, err := llmhttp.NewClient(llmhttp.Config{})
//	if err != nil { ... }
//	defer c.Close()
//	resp, err := c.Post(url, "application/json", body)
//
// or hand c.Client to an SDK: option.WithHTTPClient(c.Client) in openai-go
// and anthropic-sdk-go, ClientConfig.HTTPClient in go-openai.
//
// # The stack
//
// A call passes through these layers, outermost first; each is a package of
// its own that can also be used alone:
//
//	observe      per-call and per-attempt reports (roundtripper/observe)
//	total        the whole call's deadline (non-streaming calls only, by default)
//	retry        jittered backoff, server hints, retry budget (roundtripper/retry)
//	health       failover across replicas, when Config.Endpoints lists them (roundtripper/health)
//	ratelimit    stays under RPM/TPM, learns the server's limits (roundtripper/ratelimit)
//	sse.Watchdog first-token and token-interval timeouts for streams (sse)
//	janitor      tracks connections in use and idle (janitor)
//	transport    pool with admission timeout, HTTP/2 pings, TCP keep-alive (transport)
//	dial path    write timeout → janitor → dnscache → net.Dialer
//
// Streaming calls — recognised from "stream": true in the JSON body (read
// without consuming it) or Accept: text/event-stream — go through a pool of
// their own (Config.StreamTransport), so that minutes-long streams never
// take every connection from short calls.
//
// # Timeouts
//
// Config.Timeouts holds the reference's layered timeouts in one place, each
// enforced by one layer: DNS (3s), connect (10s), TLS (10s), request write
// (30s without progress), first token (15s), token interval (10s),
// non-streaming response (180s), pool acquire (5s), and a total backstop
// (300s). The total applies to non-streaming calls only unless
// Timeouts.TotalStream is set: a healthy stream may run longer than any
// fixed bound, and a total deadline that kills long streams is the trap users
// of Go LLM SDKs report most. Streams are bounded by the watchdog instead.
//
// # Retries: one layer only
//
// SDKs retry too: openai-go and anthropic-sdk-go retry twice by default, so
// stacked on llmhttp's three retries one call can become twelve attempts.
// Turn the SDK's off (option.WithMaxRetries(0)) and let llmhttp decide: it
// knows the server's hints, the retry budget and whether the caller has seen
// a token yet. To keep the SDK's retries instead, set
// Config.DisableRetry; llmhttp still counts SDK retries (X-Stainless-Retry-Count)
// against its budget.
//
// # Closing
//
// Close stops the background work (janitor, DNS refresh, health probes) and
// closes idle connections; Shutdown first waits for the calls in flight, as
// http.Server.Shutdown does.
package llmhttp
