package otelobserve

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/llmhttp/llmhttp/roundtripper/observe"
)

// instruments are the metrics, named after OpenTelemetry's HTTP
// conventions where they have one (http.client.request.duration) and
// llmhttp.client.* where they do not.
type instruments struct {
	duration  metric.Float64Histogram // method, server.address, status, error.type, outcome
	attempts  metric.Int64Counter     // method, server.address, connection
	phases    metric.Float64Histogram // server.address, phase
	retryWait metric.Float64Histogram // server.address, retry source
	ttft      metric.Float64Histogram // method, server.address
	tokens    metric.Int64Counter     // server.address
	buffered  metric.Int64Counter     // server.address
	maxGap    metric.Float64Histogram // server.address
}

func newInstruments(m metric.Meter, buckets []float64) (*instruments, error) {
	var (
		in   instruments
		errs [8]error
	)
	b := metric.WithExplicitBucketBoundaries(buckets...)
	s := metric.WithUnit("s")
	in.duration, errs[0] = m.Float64Histogram("http.client.request.duration", s, b,
		metric.WithDescription("Duration of LLM HTTP calls, from RoundTrip to the end of the response body, retries and waits included."))
	in.attempts, errs[1] = m.Int64Counter("llmhttp.client.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts (trips through the transport), by whether their connection was new or reused."))
	in.phases, errs[2] = m.Float64Histogram("llmhttp.client.phase.duration", s, b,
		metric.WithDescription("Phases of attempts: dns, connect, tls, pool_wait, headers (time to the first response byte)."))
	in.retryWait, errs[3] = m.Float64Histogram("llmhttp.client.retry.wait", s, b,
		metric.WithDescription("Waits between attempts, by where the wait came from."))
	in.ttft, errs[4] = m.Float64Histogram("llmhttp.client.time_to_first_token", s, b,
		metric.WithDescription("Time from the start of a streaming call, retries included, to its first content token."))
	in.tokens, errs[5] = m.Int64Counter("llmhttp.client.stream.tokens", metric.WithUnit("{token}"),
		metric.WithDescription("Content tokens received in streams."))
	in.buffered, errs[6] = m.Int64Counter("llmhttp.client.stream.buffered", metric.WithUnit("{stream}"),
		metric.WithDescription("Streams whose tokens all arrived in one burst at the end, as through a buffering proxy."))
	in.maxGap, errs[7] = m.Float64Histogram("llmhttp.client.stream.max_token_gap", s, b,
		metric.WithDescription("The longest gap between consecutive content tokens of each stream."))
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return &in, nil
}

// setKey names a cached attribute set; which fields count depends on kind.
type setKey struct {
	kind         uint8
	host, method string
	a, b         string
	status       int
}

const (
	setCall = iota
	setAttempt
	setPhase
	setRetry
	setHostMethod
	setHost
)

// maxSets bounds the cache of attribute sets; past it, sets are built for
// each use (they are bounded anyway, only larger in number).
const maxSets = 4096

// set returns the attribute set for k, from the cache when it can.
func (e *Exporter) set(k setKey) attribute.Set {
	e.mu.Lock()
	s, ok := e.sets[k]
	e.mu.Unlock()
	if ok {
		return s
	}
	kv := make([]attribute.KeyValue, 0, 6)
	kv = append(kv, semconv.ServerAddressKey.String(k.host))
	switch k.kind {
	case setCall:
		kv = append(kv, semconv.HTTPRequestMethodKey.String(k.method))
		if k.status > 0 {
			kv = append(kv, semconv.HTTPResponseStatusCodeKey.Int(k.status))
		}
		if k.a != "" {
			kv = append(kv, semconv.ErrorTypeKey.String(k.a))
		}
		if k.b != "" {
			kv = append(kv, keyOutcome.String(k.b))
		}
	case setAttempt:
		kv = append(kv, semconv.HTTPRequestMethodKey.String(k.method), keyConnection.String(k.a))
	case setPhase:
		kv = append(kv, keyPhase.String(k.a))
	case setRetry:
		kv = append(kv, keyRetrySource.String(k.a))
	case setHostMethod:
		kv = append(kv, semconv.HTTPRequestMethodKey.String(k.method))
	}
	s = attribute.NewSet(kv...)
	e.mu.Lock()
	if len(e.sets) < maxSets {
		e.sets[k] = s
	}
	e.mu.Unlock()
	return s
}

// hostValue bounds the server.address attribute: the first MaxHosts hosts
// seen keep their name, the rest are "other".
func (e *Exporter) hostValue(host string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.hosts[host]; ok {
		return host
	}
	if host == "" || len(e.hosts) >= e.maxHosts {
		return "other"
	}
	e.hosts[host] = struct{}{}
	return host
}

var phaseNames = [...]string{"dns", "connect", "tls", "pool_wait", "headers"}

// record adds r to the metrics.
func (e *Exporter) record(ctx context.Context, r *observe.Report) {
	in := e.inst
	name, _ := splitHost(r.Host)
	host := e.hostValue(name)
	method := methodValue(r.Method)
	outcome := ""
	if r.Stream {
		outcome = string(r.Outcome)
	}
	in.duration.Record(ctx, r.Duration.Seconds(), metric.WithAttributeSet(e.set(setKey{
		kind: setCall, host: host, method: method, status: r.Status, a: errorType(r), b: outcome,
	})))
	for i := range r.Attempts {
		a := &r.Attempts[i]
		in.attempts.Add(ctx, 1, metric.WithAttributeSet(e.set(setKey{kind: setAttempt, host: host, method: method, a: connection(a)})))
		for p, d := range [len(phaseNames)]time.Duration{
			a.DNS.Duration(), a.Connect.Duration(), a.TLS.Duration(), a.PoolWait, a.TimeToHeaders(),
		} {
			if d > 0 {
				in.phases.Record(ctx, d.Seconds(), metric.WithAttributeSet(e.set(setKey{kind: setPhase, host: host, a: phaseNames[p]})))
			}
		}
		if a.RetryWait > 0 {
			in.retryWait.Record(ctx, a.RetryWait.Seconds(), metric.WithAttributeSet(e.set(setKey{kind: setRetry, host: host, a: retrySource(a.RetrySource)})))
		}
	}
	if !r.Stream {
		return
	}
	hostSet := metric.WithAttributeSet(e.set(setKey{kind: setHost, host: host}))
	if r.FirstToken > 0 {
		in.ttft.Record(ctx, r.FirstToken.Seconds(), metric.WithAttributeSet(e.set(setKey{kind: setHostMethod, host: host, method: method})))
	}
	if r.Tokens > 0 {
		in.tokens.Add(ctx, int64(r.Tokens), hostSet)
	}
	if r.Buffered {
		in.buffered.Add(ctx, 1, hostSet)
	}
	if r.Gaps.Count > 0 {
		in.maxGap.Record(ctx, r.Gaps.Max.Seconds(), hostSet)
	}
}
