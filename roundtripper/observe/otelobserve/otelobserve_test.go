package otelobserve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
	"github.com/llmhttp/llmhttp/roundtripper/observe/otelobserve"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
	"github.com/llmhttp/llmhttp/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is an exporter over the SDK's in-memory span recorder and manual
// metric reader.
type harness struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	exp    *otelobserve.Exporter
}

func newHarness(t *testing.T, cfg otelobserve.Config) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	h.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() {
		_ = h.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	cfg.TracerProvider, cfg.MeterProvider = h.tp, mp
	exp, err := otelobserve.New(cfg)
	require.NoError(t, err)
	h.exp = exp
	return h
}

// client is a client over srv with observe (exporting to h) outermost and
// mws inside it.
func (h *harness) client(t *testing.T, tr *http.Transport, mws ...roundtripper.Middleware) *http.Client {
	t.Cleanup(tr.CloseIdleConnections)
	all := append([]roundtripper.Middleware{observe.New(observe.Config{Sinks: []observe.Sink{h.exp}})}, mws...)
	return &http.Client{Transport: roundtripper.Chain(tr, all...)}
}

func (h *harness) metrics(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, otelobserve.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func spansNamed(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attrs(kv []attribute.KeyValue) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, a := range kv {
		m[string(a.Key)] = a.Value
	}
	return m
}

func chat(ctx context.Context, t *testing.T, c *http.Client, url string, stream bool) (*http.Response, []byte, error) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": "m", "stream": stream, "max_tokens": 5,
		"messages": []map[string]string{{"role": "user", "content": "hi"}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test-SECRET")
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, b, err
}

// A call retried once after a 503: one client span, a child of the
// caller's, with two attempt spans under it, and the metrics to match.
func TestRetriedCall(t *testing.T) {
	srv := testserver.New(t, testserver.Config{Script: []testserver.Fault{{Status: http.StatusServiceUnavailable}}})
	h := newHarness(t, otelobserve.Config{})
	c := h.client(t, srv.Transport(), retry.New(retry.Config{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}))

	ctx, parent := h.tp.Tracer("test").Start(t.Context(), "parent")
	resp, _, err := chat(ctx, t, c, srv.URL(), false)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parent.End()

	ended := h.spans.Ended()
	calls := spansNamed(ended, "POST")
	require.Len(t, calls, 1)
	call := calls[0]
	assert.Equal(t, parent.SpanContext().SpanID(), call.Parent().SpanID(), "a child of the caller's span")
	assert.Equal(t, trace.SpanKindClient, call.SpanKind())
	assert.Equal(t, codes.Unset, call.Status().Code)
	assert.True(t, call.EndTime().After(call.StartTime()))
	a := attrs(call.Attributes())
	assert.Equal(t, "POST", a["http.request.method"].AsString())
	assert.Equal(t, "127.0.0.1", a["server.address"].AsString())
	assert.Positive(t, a["server.port"].AsInt64())
	assert.Equal(t, "/v1/chat/completions", a["url.path"].AsString())
	assert.Equal(t, int64(200), a["http.response.status_code"].AsInt64())
	assert.Equal(t, int64(2), a["llmhttp.attempts"].AsInt64())
	assert.Equal(t, int64(1), a["http.request.resend_count"].AsInt64())
	assert.Equal(t, "1.1", a["network.protocol.version"].AsString())
	assert.NotEmpty(t, a["llmhttp.request_id"].AsString())
	assert.Positive(t, a["llmhttp.retry.wait"].AsFloat64())
	for _, s := range ended {
		for _, kv := range s.Attributes() {
			assert.NotContains(t, kv.Value.Emit(), "SECRET", "no credential in any attribute")
		}
	}

	attempts := spansNamed(ended, "attempt")
	require.Len(t, attempts, 2)
	for i, s := range attempts {
		assert.Equal(t, call.SpanContext().SpanID(), s.Parent().SpanID())
		aa := attrs(s.Attributes())
		assert.Equal(t, int64(i+1), aa["llmhttp.attempt"].AsInt64())
		assert.False(t, s.StartTime().Before(call.StartTime()))
		assert.False(t, s.EndTime().After(call.EndTime()))
		assert.Positive(t, aa["llmhttp.time_to_headers"].AsFloat64())
	}
	assert.Equal(t, int64(503), attrs(attempts[0].Attributes())["http.response.status_code"].AsInt64())
	assert.Equal(t, codes.Error, attempts[0].Status().Code)
	assert.Equal(t, int64(200), attrs(attempts[1].Attributes())["http.response.status_code"].AsInt64())
	assert.Equal(t, codes.Unset, attempts[1].Status().Code)
	assert.Equal(t, "new", attrs(attempts[0].Attributes())["llmhttp.connection"].AsString())
	assert.Positive(t, attrs(attempts[0].Attributes())["llmhttp.retry.wait"].AsFloat64())
	assert.Equal(t, "backoff", attrs(attempts[0].Attributes())["llmhttp.retry.source"].AsString())

	m := h.metrics(t)
	dur := m["http.client.request.duration"].(metricdata.Histogram[float64])
	require.Len(t, dur.DataPoints, 1)
	assert.Equal(t, uint64(1), dur.DataPoints[0].Count)
	v, _ := dur.DataPoints[0].Attributes.Value("http.response.status_code")
	assert.Equal(t, int64(200), v.AsInt64())
	_, hasErr := dur.DataPoints[0].Attributes.Value("error.type")
	assert.False(t, hasErr)
	att := m["llmhttp.client.attempts"].(metricdata.Sum[int64])
	var n int64
	for _, dp := range att.DataPoints {
		n += dp.Value
	}
	assert.Equal(t, int64(2), n)
	rw := m["llmhttp.client.retry.wait"].(metricdata.Histogram[float64])
	require.Len(t, rw.DataPoints, 1)
	src, _ := rw.DataPoints[0].Attributes.Value("llmhttp.retry.source")
	assert.Equal(t, "backoff", src.AsString())
	assert.Contains(t, m, "llmhttp.client.phase.duration")
}

// A stream through sse.Watchdog: its outcome, tokens and time to first
// token on the span, and in the stream metrics.
func TestStream(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	h := newHarness(t, otelobserve.Config{})
	c := h.client(t, srv.Transport(), sse.Watchdog(sse.WatchdogConfig{}))
	resp, body, err := chat(t.Context(), t, c, srv.URL(), true)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "[DONE]")

	calls := spansNamed(h.spans.Ended(), "POST")
	require.Len(t, calls, 1)
	a := attrs(calls[0].Attributes())
	assert.True(t, a["llmhttp.stream"].AsBool())
	assert.Equal(t, "completed", a["llmhttp.stream.outcome"].AsString())
	assert.Equal(t, int64(5), a["llmhttp.stream.tokens"].AsInt64())
	assert.Positive(t, a["llmhttp.stream.time_to_first_token"].AsFloat64())
	assert.False(t, a["llmhttp.stream.buffered"].AsBool())
	var first bool
	for _, ev := range calls[0].Events() {
		first = first || ev.Name == "first_token"
	}
	assert.True(t, first, "a first_token event")

	m := h.metrics(t)
	ttft := m["llmhttp.client.time_to_first_token"].(metricdata.Histogram[float64])
	require.Len(t, ttft.DataPoints, 1)
	assert.Equal(t, uint64(1), ttft.DataPoints[0].Count)
	tok := m["llmhttp.client.stream.tokens"].(metricdata.Sum[int64])
	require.Len(t, tok.DataPoints, 1)
	assert.Equal(t, int64(5), tok.DataPoints[0].Value)
	dur := m["http.client.request.duration"].(metricdata.Histogram[float64])
	outcome, _ := dur.DataPoints[0].Attributes.Value("llmhttp.stream.outcome")
	assert.Equal(t, "completed", outcome.AsString())
}

// A call that fails gets an error status and error.type, on the span and
// on the duration metric.
func TestFailedCall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	h := newHarness(t, otelobserve.Config{})
	c := h.client(t, &http.Transport{})
	_, _, err = chat(t.Context(), t, c, url, false)
	require.Error(t, err)

	calls := spansNamed(h.spans.Ended(), "POST")
	require.Len(t, calls, 1)
	assert.Equal(t, codes.Error, calls[0].Status().Code)
	assert.Contains(t, calls[0].Status().Description, "connection refused")
	et := attrs(calls[0].Attributes())["error.type"].AsString()
	assert.Equal(t, "*net.OpError", et)
	_, hasStatus := attrs(calls[0].Attributes())["http.response.status_code"]
	assert.False(t, hasStatus)

	dur := h.metrics(t)["http.client.request.duration"].(metricdata.Histogram[float64])
	require.Len(t, dur.DataPoints, 1)
	v, _ := dur.DataPoints[0].Attributes.Value("error.type")
	assert.Equal(t, "*net.OpError", v.AsString())
}

// The server.address metric attribute takes at most MaxHosts values, and
// error.type and the method come from bounded sets.
func TestBoundedAttributes(t *testing.T) {
	h := newHarness(t, otelobserve.Config{MaxHosts: 1, DisableTraces: true})
	for _, r := range []observe.Report{
		{Method: "POST", Host: "a.example:443", Status: 200, Duration: time.Millisecond, Attempts: []observe.Attempt{{N: 1}}},
		{Method: "POST", Host: "b.example:443", Status: 503, Duration: time.Millisecond, Attempts: []observe.Attempt{{N: 1}}},
		{Method: "BREW", Host: "c.example", Status: 200, Duration: time.Millisecond, Attempts: []observe.Attempt{{N: 1}}},
	} {
		h.exp.Observe(&r)
	}
	assert.Empty(t, h.spans.Ended(), "traces off")
	dur := h.metrics(t)["http.client.request.duration"].(metricdata.Histogram[float64])
	seen := map[string]bool{}
	for _, dp := range dur.DataPoints {
		host, _ := dp.Attributes.Value("server.address")
		method, _ := dp.Attributes.Value("http.request.method")
		status, _ := dp.Attributes.Value("http.response.status_code")
		et, _ := dp.Attributes.Value("error.type")
		seen[host.AsString()+" "+method.AsString()+" "+status.Emit()+" "+et.AsString()] = true
	}
	assert.Equal(t, map[string]bool{
		"a.example POST 200 ": true,
		"other POST 503 503":  true,
		"other _OTHER 200 ":   true,
	}, seen)
}
