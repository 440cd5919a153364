package otelobserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
)

// The attributes OpenTelemetry's conventions do not define.
const (
	keyAttempts      = attribute.Key("llmhttp.attempts")
	keyAttempt       = attribute.Key("llmhttp.attempt")
	keyRetryWait     = attribute.Key("llmhttp.retry.wait")   // seconds
	keyRetrySource   = attribute.Key("llmhttp.retry.source") // "retry-after-ms", "backoff", ...
	keyPoolWait      = attribute.Key("llmhttp.pool.wait")    // seconds
	keyRequestID     = attribute.Key("llmhttp.request_id")   // the server's x-request-id or request-id
	keyConnection    = attribute.Key("llmhttp.connection")   // "new", "reused" or "none"
	keyIdleTime      = attribute.Key("llmhttp.connection.idle_time")
	keyDNS           = attribute.Key("llmhttp.dns.duration")
	keyConnect       = attribute.Key("llmhttp.connect.duration")
	keyTLS           = attribute.Key("llmhttp.tls.duration")
	keyTimeToHeaders = attribute.Key("llmhttp.time_to_headers")
	keyPhase         = attribute.Key("llmhttp.phase") // "dns", "connect", "tls", "pool_wait", "headers"
	keyStream        = attribute.Key("llmhttp.stream")
	keyOutcome       = attribute.Key("llmhttp.stream.outcome")
	keyTokens        = attribute.Key("llmhttp.stream.tokens")
	keyEvents        = attribute.Key("llmhttp.stream.events")
	keyTTFT          = attribute.Key("llmhttp.stream.time_to_first_token")
	keyTTFE          = attribute.Key("llmhttp.stream.time_to_first_event")
	keyMaxGap        = attribute.Key("llmhttp.stream.max_token_gap")
	keyBuffered      = attribute.Key("llmhttp.stream.buffered")
)

// methodValue is the method as the HTTP conventions want it: one of the
// standard methods, or "_OTHER".
func methodValue(m string) string {
	switch m {
	case "", "GET":
		return "GET"
	case "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE":
		return m
	}
	return "_OTHER"
}

// spanName is the span's name by the HTTP conventions: the method, or
// "HTTP" for a method they do not know.
func spanName(m string) string {
	if v := methodValue(m); v != "_OTHER" {
		return v
	}
	return "HTTP"
}

// splitHost splits a request's host into name and port (0 when absent).
func splitHost(h string) (string, int) {
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		return strings.Trim(h, "[]"), 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// protoVersion is network.protocol.version: "1.1", "2" or "3".
func protoVersion(proto string) string {
	v, ok := strings.CutPrefix(proto, "HTTP/")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(v, ".0")
}

// errorType is error.type: empty when the call went well, the status code
// for a status of 400 or more, the stream's outcome when it did not
// complete, or a word for the error: stalled, rejected (a layer's refusal
// by policy), timeout, canceled, or the error's Go type.
func errorType(r *observe.Report) string {
	switch {
	case r.Err != nil:
		return errType(r.Err)
	case r.Status >= 400:
		return strconv.Itoa(r.Status)
	case r.Outcome != "" && r.Outcome != roundtripper.StreamCompleted:
		return string(r.Outcome)
	}
	return ""
}

func errType(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, roundtripper.ErrFirstTokenTimeout), errors.Is(err, roundtripper.ErrTokenIntervalTimeout):
		return "stalled"
	case roundtripper.Rejected(err):
		return "rejected"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return fmt.Sprintf("%T", err)
}

// failed says whether the call's span gets an error status: an error, a
// status of 400 or more (the conventions' rule for client spans), or a
// stream that did not complete.
func failed(r *observe.Report) bool {
	return r.Failed() || r.Status >= 400
}

// retrySource bounds the retry source attribute to the sources retry uses.
func retrySource(s string) string {
	switch s {
	case "retry-after-ms", "retry-after", "x-ratelimit-reset", "anthropic-ratelimit-reset", "backoff":
		return s
	}
	return "other"
}

// connection says how an attempt got its connection.
func connection(a *observe.Attempt) string {
	switch {
	case a.GotConn == 0:
		return "none"
	case a.Reused:
		return "reused"
	}
	return "new"
}
