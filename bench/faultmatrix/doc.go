// Package faultmatrix proves llmhttp's promises end to end under faults: it
// puts a real TCP proxy with injected faults (toxiproxy, in-process, on
// loopback) between a client and internal/testserver, runs a bounded batch
// of concurrent calls through each cell of a matrix, and checks invariants
// in every cell. The same matrix runs against a plain net/http client with
// the same timeouts, so that the report shows what llmhttp changes.
//
// # Cells
//
// A cell is one fault × {non-streaming, streaming} × {HTTP/1.1, h2c}. The
// faults are toxiproxy's toxics on the proxy (latency, bandwidth, slicer,
// limit_data, reset_peer, timeout, slow_close; Cell.Injected says what
// each injects) and the test server's own faults (429 with each wait hint,
// 500, 502, 503, 529, a stall before the first token, a stall mid-stream,
// pings only, a reset before and after the headers), which hit the first
// CallsPerCell requests of a cell, one per call on average, after which the
// server answers normally. A toxic hits every connection, or every second
// one the client dials (the first, third, ...: the others go through a
// clean proxy), the same for both clients; over h2c, which connection Go's
// HTTP/2 client puts a call on is still up to it.
//
// # Invariants
//
// Checked for every cell and client (a violation is an llmhttp failure only
// for the llmhttp client; net/http's are recorded, not asserted, except that
// it must stay bounded too):
//
//   - No hang: every call ends, with success or a typed error, within its
//     budget (Budget: llmhttp's Timeouts.Total and TotalStream; net/http's
//     Client.Timeout or the caller's context deadline) plus Margin. A typed
//     error is one matched with errors.Is/As by one of: sse.StreamError
//     (ErrFirstTokenTimeout, ErrTokenIntervalTimeout, ErrStreamCut,
//     ErrTruncated, ErrErrorEvent), *retry.Error (ErrDeadline,
//     ErrBudgetExhausted, ErrAttemptTimeout, ErrBodyNotRewindable),
//     *llmhttp.TimeoutError (ErrTotalTimeout, ErrWriteTimeout),
//     transport.ErrPoolTimeout, transport.DialError, ratelimit.ErrLimited,
//     llmhttp.ErrClosed, or a standard one under them: context deadline,
//     net.Error timeout, ECONNRESET, ECONNREFUSED, EPIPE, io.EOF,
//     io.ErrUnexpectedEOF. Anything else is "untyped", a violation.
//   - No goroutine left: every goroutine the cell's client started (they
//     carry a pprof label of the cell, inherited from the calling
//     goroutine) has ended shortly after the client is closed.
//   - No double billing: a POST without an idempotency key reaches the
//     server at most once, except that an attempt the server answered with
//     a status (429, 5xx: it said it did not do the work) or one that failed
//     with an error reporting roundtripper.Replayable (a stream cut or
//     stalled before its first token, replayed by design; see
//     roundtripper/retry) may be followed by another. The server counts
//     request bodies by a unique marker per call.
//   - Connection limits: the connections open at once (counted by the
//     dialer) never exceed MaxConnsPerHost (plus one spare for h2c, which
//     Go's HTTP/2 client may dial), and the connections opened never exceed
//     the attempts made plus that limit: no TIME_WAIT storm. net/http frees
//     a closing connection's slot just before it closes the socket, so a
//     new one can open beside it for an instant (seen once in a full run:
//     9 against 8). Connections in use (GotConn to the body's end) are
//     reported beside it, not asserted: seen from outside the transport
//     they run one over at a hand-over.
//   - No leaked credential: the fake API key sent in Authorization and
//     x-api-key on every call appears in no error text, no line of the
//     slog output of observe, retry, ratelimit and dnscache, and no label or
//     name of the Prometheus metrics (observe/prom on a fresh registry).
//
// Run is what the results page's generator calls; TestMatrix runs it in
// quick mode (FAULTMATRIX_CALLS sets the calls per cell for bigger runs).
package faultmatrix
