// Package hints parses what an LLM API's response headers say about when to
// call again: Retry-After and retry-after-ms, OpenAI's x-ratelimit-* headers
// and Anthropic's anthropic-ratelimit-* headers.
//
// It is shared by retry (how long to wait before the next attempt) and
// ratelimit (how much capacity is left for every caller of a host), so that
// both read the headers alike. Every parser tolerates what real servers send
// wrong: malformed, negative or missing values are reported as absent, never
// as a panic or a zero that would mean "go now".
package hints
