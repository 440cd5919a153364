// Package observe reports what happened to each LLM call: one [Report] per
// call, with one [Attempt] per attempt inside it, built from net/http/httptrace
// and from the [roundtripper.Trace] hooks that llmhttp's other layers call.
//
// A report holds the phases of each attempt (pool wait, DNS, connect, TLS,
// time to the first response byte, whether the connection was reused), the
// retry waits between attempts and where they came from, the final status and
// the server's request ID (x-request-id or request-id), the bytes read, and for
// event streams what status codes cannot show: the time to the first event and
// to the first content token (separately, since servers flush headers long
// before the first token), the gaps between tokens, how the stream ended
// ([roundtripper.StreamOutcome], or [OutcomeUnknown]), and whether its tokens
// all arrived in one burst at the end, the mark of an intermediary that
// buffers event streams.
//
// observe is the outermost layer of the stack: it attaches its hooks to the
// request's context once per call, composed with any the caller already put
// there, and the layers inside call them. Token timings need an
// [sse.Watchdog] (or any layer calling [roundtripper.Trace].StreamEvent)
// inside observe; without one, a stream's outcome is inferred from its body.
//
// A report is final when the response body reaches EOF or is closed, or when
// RoundTrip returns an error. It then goes to [Config.OnReport], to each of
// [Config.Sinks] (the Prometheus adapter in observe/prom is one; a
// [ContextSink] also gets the request's context, as the OpenTelemetry adapter
// in observe/otelobserve, a module of its own, does to parent its spans), and
// to [Config.Logger] as one line. Reports never hold header values other than the
// request ID, nor the URL's query or user info: no API key reaches a sink.
//
// # What observe expects of the layers inside it
//
// A retrying layer calls Trace.Attempt(n) before every attempt, the first
// included, and Trace.RetryWait(n, d, source) once it has chosen to wait d
// after attempt n. A stream layer calls Trace.StreamEvent for each event and
// Trace.StreamEnd once per attempt it watched, before the body's Read
// returns the end or the error, or within its Close; and no hook after the
// body is closed. A layer may call no hook at all: observe then reports
// what httptrace and the body show.
//
// # Cost
//
// Over a reused HTTP/1 connection a call costs observe two allocations,
// the least a middleware that puts hooks in the request's context and wraps
// the response body can do (the request's copy, and one object for the
// context and the body wrapper), four clock reads and a few uncontended
// locks. Per-call state with its hooks bound once is recycled through a
// sync.Pool when no hook can come late; calls that dialed, streamed, failed
// or used HTTP/2 build fresh state instead (about twenty small
// allocations), which is small beside a dial or a stream.
//
// Most callers want:
//
//	mw := observe.New(observe.Config{Logger: slog.Default()})
//	client := &http.Client{Transport: roundtripper.Chain(tr, mw, retry.New(retry.Config{}))}
//
// [sse.Watchdog]: https://pkg.go.dev/github.com/llmhttp/llmhttp/sse#Watchdog
package observe
