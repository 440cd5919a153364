package otelobserve

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmhttp/llmhttp/roundtripper/observe"
)

// spans makes the call's span and its attempts' spans, after the fact,
// with the times the report gives.
func (e *Exporter) spans(ctx context.Context, r *observe.Report) {
	end := r.Start.Add(r.Duration)
	ctx, span := e.tracer.Start(ctx, spanName(r.Method),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(r.Start))
	if !span.IsRecording() {
		span.End(trace.WithTimestamp(end))
		return
	}
	host, port := splitHost(r.Host)
	attrs := make([]attribute.KeyValue, 0, 24)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(methodValue(r.Method)),
		semconv.ServerAddressKey.String(host),
		semconv.URLPathKey.String(r.Path),
		keyAttempts.Int(len(r.Attempts)),
		semconv.HTTPResponseBodySizeKey.Int64(r.BytesRead),
	)
	if port > 0 {
		attrs = append(attrs, semconv.ServerPortKey.Int(port))
	}
	if r.Status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCodeKey.Int(r.Status))
	}
	if v := protoVersion(r.Proto); v != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersionKey.String(v))
	}
	if et := errorType(r); et != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
	}
	if len(r.Attempts) > 1 {
		attrs = append(attrs, semconv.HTTPRequestResendCountKey.Int(len(r.Attempts)-1))
	}
	if r.RequestBytes >= 0 {
		attrs = append(attrs, semconv.HTTPRequestBodySizeKey.Int64(r.RequestBytes))
	}
	if r.RetryWait > 0 {
		attrs = append(attrs, keyRetryWait.Float64(r.RetryWait.Seconds()))
	}
	if r.PoolWait > 0 {
		attrs = append(attrs, keyPoolWait.Float64(r.PoolWait.Seconds()))
	}
	if r.RequestID != "" {
		attrs = append(attrs, keyRequestID.String(r.RequestID))
	}
	if r.Stream {
		attrs = append(attrs,
			keyStream.Bool(true),
			keyOutcome.String(string(r.Outcome)),
			keyTokens.Int(r.Tokens),
			keyEvents.Int(r.Events),
			keyBuffered.Bool(r.Buffered),
		)
		if r.FirstEvent > 0 {
			attrs = append(attrs, keyTTFE.Float64(r.FirstEvent.Seconds()))
		}
		if r.FirstToken > 0 {
			attrs = append(attrs, keyTTFT.Float64(r.FirstToken.Seconds()))
			span.AddEvent("first_token", trace.WithTimestamp(r.Start.Add(r.FirstToken)))
		}
		if r.Gaps.Count > 0 {
			attrs = append(attrs, keyMaxGap.Float64(r.Gaps.Max.Seconds()))
		}
	}
	span.SetAttributes(attrs...)

	for i := range r.Attempts {
		e.attemptSpan(ctx, r, &r.Attempts[i], end)
	}

	if failed(r) {
		desc := ""
		if r.Err != nil {
			span.RecordError(r.Err, trace.WithTimestamp(end))
			desc = r.Err.Error()
		}
		span.SetStatus(codes.Error, desc)
	}
	span.End(trace.WithTimestamp(end))
}

// attemptSpan makes the span of one attempt, a child of the call's.
func (e *Exporter) attemptSpan(ctx context.Context, r *observe.Report, a *observe.Attempt, callEnd time.Time) {
	end := callEnd
	if a.End > a.Start {
		end = r.Start.Add(a.End)
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	attrs = append(attrs, keyAttempt.Int(a.N), keyConnection.String(connection(a)))
	if a.Status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCodeKey.Int(a.Status))
	}
	if a.WasIdle {
		attrs = append(attrs, keyIdleTime.Float64(a.IdleTime.Seconds()))
	}
	if a.RemoteAddr != nil {
		host, port := splitHost(a.RemoteAddr.String())
		attrs = append(attrs, semconv.NetworkPeerAddressKey.String(host))
		if port > 0 {
			attrs = append(attrs, semconv.NetworkPeerPortKey.Int(port))
		}
	}
	for _, p := range [...]struct {
		k attribute.Key
		d time.Duration
	}{
		{keyDNS, a.DNS.Duration()}, {keyConnect, a.Connect.Duration()}, {keyTLS, a.TLS.Duration()},
		{keyPoolWait, a.PoolWait}, {keyTimeToHeaders, a.TimeToHeaders()},
	} {
		if p.d > 0 {
			attrs = append(attrs, p.k.Float64(p.d.Seconds()))
		}
	}
	if a.RetryWait > 0 {
		attrs = append(attrs, keyRetryWait.Float64(a.RetryWait.Seconds()), keyRetrySource.String(a.RetrySource))
	}
	if a.Outcome != "" {
		attrs = append(attrs, keyOutcome.String(string(a.Outcome)))
	}
	_, span := e.tracer.Start(ctx, "attempt",
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(r.Start.Add(a.Start)), trace.WithAttributes(attrs...))
	switch {
	case a.Err != nil:
		span.RecordError(a.Err, trace.WithTimestamp(end))
		span.SetStatus(codes.Error, a.Err.Error())
	case a.Status >= 400:
		span.SetStatus(codes.Error, "")
	}
	span.End(trace.WithTimestamp(end))
}
