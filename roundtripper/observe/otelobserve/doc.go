// Package otelobserve exports observe's per-call reports through
// OpenTelemetry: one client span per call, with a child span per attempt,
// and metrics (call duration, attempts, phases, retry waits, time to first
// token, stream tokens and outcomes) with bounded attribute sets.
//
// It is a module of its own, so that the llmhttp library itself pulls in no
// OpenTelemetry. Most callers want:
//
//	exp, err := otelobserve.New(otelobserve.Config{}) // the global providers
//	if err != nil { ... }
//	mw := observe.New(observe.Config{Sinks: []observe.Sink{exp}})
//
// or, with llmhttp.NewClient, Config.Observe.Sinks = []observe.Sink{exp}.
//
// # Spans
//
// observe reports a call when it has ended, so the spans are made after the
// fact, with the call's own start and end times: the call's span is a child
// of the span in the request's context (the caller's, or otelhttp's when it
// is inserted outside observe), named after the method as OpenTelemetry's
// HTTP conventions ask, of kind client, with the http.*, server.*, url.path
// and error.type attributes of those conventions and llmhttp.* ones for what
// they do not cover: attempts, retry and pool waits, the server's request
// ID, and for streams the outcome, tokens, time to first token and whether
// an intermediary buffered the stream. Each attempt is a child span with its
// status (from retry, through roundtripper.Trace.AttemptDone), its
// connection (new or reused, DNS, connect and TLS times), its time to
// headers and the wait that followed it. Because the spans are made after
// the call, they cannot carry trace context to the server: insert
// otelhttp's transport (llmhttp.Outermost) for that.
//
// # Metrics
//
// Attributes are bounded: server.address takes at most Config.MaxHosts
// values (then "other"), the method is one of the standard ones or "_OTHER",
// the status code is the server's, and error.type, outcome, phase and retry
// source come from small fixed sets. Never the URL's path, a query, a
// header or anything else the caller or the server chooses freely.
package otelobserve
