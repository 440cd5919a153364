// Package testserver is a fake OpenAI- and Anthropic-compatible LLM API
// server with scripted faults. llmhttp's tests, examples and benchmarks run
// against it on a loopback port, in-process.
//
// Most tests want:
//
//	srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
//	client := srv.Client()
//	resp, err := client.Post(srv.URL()+"/v1/chat/completions", "application/json",
//		strings.NewReader(`{"model":"m","stream":true}`))
//
// # Protocols and lifetime
//
// [Start] listens on 127.0.0.1:0 and speaks HTTP/1.1 ([HTTP1]), HTTP/2 with
// prior knowledge ([H2C], which also accepts HTTP/1.1), or HTTPS with HTTP/2
// and HTTP/1.1 through ALPN ([TLS]) on a self-signed ECDSA certificate for
// 127.0.0.1, ::1 and localhost, made once per process. [Server.Transport]
// and [Server.Client] are set up for the protocol. Any number of servers can
// run at once (replicas). [Server.Close] closes the listener and every
// connection, ends every delay and stall at once, and waits for all handlers,
// so no goroutine is left behind; it also closes the idle connections of the
// transports it handed out.
//
// # Endpoints
//
//   - POST /v1/chat/completions: OpenAI Chat Completions. A JSON
//     chat.completion, or with "stream":true SSE "data:" chunks: the role
//     (delta {"role":"assistant","content":""}), one chunk per token, a chunk
//     with finish_reason "stop", a usage chunk (empty choices) when
//     stream_options.include_usage is set, then "data: [DONE]". Reasoning
//     deltas, when asked for, come first as delta.reasoning_content (vLLM's
//     and DeepSeek's field).
//   - POST /v1/responses: OpenAI Responses. A JSON response, or with
//     "stream":true events with "event:" lines and a "type" and
//     "sequence_number" in each data: response.created, response.in_progress,
//     [reasoning: response.output_item.added, response.reasoning_summary_part.added,
//     response.reasoning_summary_text.delta ..., its .done events,
//     response.output_item.done], response.output_item.added,
//     response.content_part.added, response.output_text.delta ...,
//     response.output_text.done, response.content_part.done,
//     response.output_item.done, response.completed (with usage).
//   - POST /v1/messages: Anthropic Messages. A JSON message, or streamed
//     message_start, content_block_start, ping, content_block_delta
//     (text_delta) ..., content_block_stop, message_delta (stop_reason and
//     usage), message_stop. Reasoning comes first as a thinking block
//     (thinking_delta ..., signature_delta) at index 0; the text is then at
//     index 1.
//   - GET /v1/models: an OpenAI model list. /health (any method): {"status":"ok"}.
//
// Completions are deterministic, so a test can assert the exact text: a
// completion of n tokens streams [Tokens](n) = "t0", " t1", " t2", ..., one
// per delta; its text is [Text](n) = "t0 t1 t2 ...". n is the request's
// max_tokens, max_completion_tokens or max_output_tokens (at most 65536),
// else [DefaultTokens]. Fault.Reasoning reasoning deltas ([ReasoningTokens], "r0",
// " r1", ...) precede the text; a request with a Responses "reasoning" object
// or an Anthropic "thinking" object of type "enabled" gets [DefaultReasoning]
// of them when its fault sets none. Usage counts the prompt as a quarter of
// the request body's bytes and the completion as its deltas. Each answer
// carries a request ID: x-request-id on OpenAI paths, request-id on
// /v1/messages.
//
// # Rate limits
//
// Every answer on the three POST endpoints carries rate-limit headers as the
// real APIs send them: x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// with resets as Go durations ("1s", "6m0s", "20ms") on OpenAI paths;
// anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}
// with RFC 3339 resets on /v1/messages (tokens, input-tokens and
// output-tokens report the same single token bucket). Each limit is a token
// bucket holding a minute's allowance, refilled continuously; a reset is when
// the bucket is full again. A request costs 1 request and its prompt
// estimate plus its n completion tokens, taken when it arrives. When
// Config.RequestsPerMinute or TokensPerMinute is set and the bucket lacks
// room, the request is refused with 429, an API-shaped rate-limit error,
// retry-after (whole seconds, rounded up) and retry-after-ms; a refused
// request takes nothing. A limit left at zero is reported as a generous
// nominal one (10000 RPM, 2000000 TPM, or Config.NominalRequestsPerMinute
// and NominalTokensPerMinute) and never enforced.
//
// # Faults
//
// A [Fault] says what the server does with one request. It comes from the
// request's [FaultHeader] (a JSON Fault), else from Config.Script, by the
// request's index among API requests (the three POST endpoints, counted in
// arrival order across them; a request with the header counts too), else
// from Config.Default. [Server.SetScript] replaces the script and restarts
// the count. /health and /v1/models take the header or Default but never use
// up the script, and of a fault they honour only Status, Header, Body,
// HeaderDelay, Close and Reset.
//
// A fault acts in this order:
//
//  1. Header is added to the response headers, overriding the server's own
//     (request ID, rate-limit headers).
//  2. HeaderDelay: nothing is sent for this long.
//  3. Close == CloseBeforeHeaders: the connection is dropped.
//  4. A rate-limit refusal (429), else Status with Body: the answer is that
//     status with an API-shaped JSON error ({"error":{...}} on OpenAI paths,
//     {"type":"error","error":{...}} on Anthropic's) unless Body is given; a
//     Body that is a bare error code, such as "insufficient_quota", gives the
//     API-shaped error with that code. Only the close modes apply to it.
//  5. The completion's headers are sent and flushed. CloseAfterHeaders drops
//     the connection here.
//  6. FirstTokenDelay: no body byte for this long (not even the first event).
//  7. The stream's opening events; ErrorEvent without StallAfter sends the
//     dialect's error event here instead of any token, and the stream ends.
//  8. Reasoning deltas, then text tokens, paced by TokensPerSecond (the
//     fault's, else Config's) from the first token on.
//  9. At the cut point, after StallAfter tokens (or half way through, for
//     CloseMidStream without StallAfter): the stall (StallFor long; without
//     StallFor only when nothing else is to happen there, and then until the
//     client goes away), then CloseMidStream drops the connection, or
//     ErrorEvent sends the error event and ends the stream, or Truncate ends
//     it cleanly; otherwise the stream goes on.
//  10. The closing events, and the terminal one ([DONE], message_stop,
//     response.completed) unless Truncate.
//
// During a stall, StallSilent sends not one byte; StallComments sends an SSE
// comment ": keep-alive" every StallEvery; StallPings sends the dialect's
// ping: an Anthropic "event: ping" on /v1/messages, an SSE comment ": ping"
// on the OpenAI paths, which have no ping event.
//
// Dropping a connection acts on the TCP connection under the request. Without
// Reset the server shuts down its sending side, so the client reads FIN (an
// unexpected EOF) and never an RST; the connection is fully closed when the
// client closes it or the server next writes. With Reset it is an abortive
// close (SO_LINGER 0): the client gets an RST and its read fails with an
// error matching syscall.ECONNRESET. Over HTTP/2 this drops the
// whole connection, with every other stream on it, not just the request's
// stream; and with Reset, the client's kernel may discard data it had
// received but not read, as with any RST. A non-streamed JSON answer honours
// CloseMidStream, StallAfter/StallFor (silently) and Truncate half way
// through its body.
//
// Every delay and stall ends when the client goes away or the server closes.
//
// # Connections
//
// Config.KeepAliveTimeout is the server's idle timeout: a connection idle
// that long is closed (HTTP/2 ones too), and HTTP/1.1 answers carry
// "Keep-Alive: timeout=N" (whole seconds, at least 1), as nginx sends.
// Config.MaxRequestsPerConn closes a connection after that many requests: the
// last answer carries "Connection: close" over HTTP/1.1; over HTTP/2 the
// server sends GOAWAY and closes once the connection's streams are done.
// Config.MaxConcurrentStreams caps the streams of one HTTP/2 connection.
//
// [Server.Stats] counts connections (accepted and closed, each numbered from
// 1 in accept order), requests (in all, by path, by connection; connections
// that served no request are left out of RequestsPerConn) and requests in
// flight (now and at most). [Server.Requests] returns a copy of every
// request as received, headers and body included.
//
// The server is built for scale tests: streaming allocates nothing per token
// (token texts are built once per process), and the hot path takes no lock
// shared by all requests except a short one per request (rate limiter,
// request log).
package testserver
