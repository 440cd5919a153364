// Package testserver is a fake OpenAI- and Anthropic-compatible LLM API
// server with scripted faults, for llmhttp's tests, examples and benchmarks.
//
// Most tests want:
//
//	srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
//	client := srv.Client()
//	resp, err := client.Post(srv.URL()+"/v1/chat/completions", "application/json",
//		strings.NewReader(`{"model":"m","stream":true}`))
//
// # Endpoints
//
//   - POST /v1/chat/completions: OpenAI Chat Completions, a JSON answer, or
//     with "stream":true SSE chunks: one with the role, one per token, one
//     with finish_reason, a usage chunk when stream_options.include_usage is
//     set, then "data: [DONE]".
//   - POST /v1/responses: OpenAI Responses, JSON or streamed events
//     (response.created ... response.output_text.delta ... response.completed).
//   - POST /v1/messages: Anthropic Messages, JSON or streamed events
//     (message_start, content_block_start, ping, content_block_delta,
//     content_block_stop, message_delta, message_stop).
//   - GET /v1/models and GET /health.
//
// Completions are deterministic: n text tokens are [Tokens](n), "t0", " t1",
// ..., their text [Text](n). n is the request's max_tokens,
// max_completion_tokens or max_output_tokens, else [DefaultTokens].
// Reasoning deltas ([ReasoningTokens]) come before the text when the fault
// sets Reasoning or the request carries a "reasoning" or "thinking" object.
// Usage counts the prompt as a quarter of the body's bytes. OpenAI paths carry
// x-request-id, Anthropic's request-id, and all API paths rate-limit headers.
//
// # Faults
//
// A [Fault] says what the server does with one request. It is taken from the
// request's [FaultHeader], else Config.Script by the request's index among
// API requests (the three POST endpoints), else Config.Default.
// /health and /v1/models take the header or Default, never the script.
package testserver
