package prom_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
	"github.com/llmhttp/llmhttp/roundtripper/observe/prom"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gather returns the families of reg by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// streamLayer reports a stream's events and end as sse.Watchdog does,
// without parsing: three events, two of them content tokens.
func streamLayer(next http.RoundTripper) http.RoundTripper {
	return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if tr := roundtripper.ContextTrace(req.Context()); tr != nil && strings.Contains(resp.Header.Get("Content-Type"), "event-stream") {
			tr.StreamEvent(false)
			tr.StreamEvent(true)
			tr.StreamEvent(true)
			tr.StreamEnd(roundtripper.StreamCompleted, nil)
		}
		return resp, nil
	})
}

// retryOnce retries a 5xx once, announcing attempts and the wait.
func retryOnce(next http.RoundTripper) http.RoundTripper {
	return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		tr := roundtripper.ContextTrace(req.Context())
		tr.Attempt(1)
		resp, err := next.RoundTrip(req)
		if err != nil || resp.StatusCode < 500 {
			return resp, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		tr.RetryWait(1, time.Millisecond, "backoff")
		tr.Attempt(2)
		r := req.Clone(req.Context())
		r.Body, _ = req.GetBody()
		return next.RoundTrip(r)
	})
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg, prom.Config{MaxHosts: 1})
	require.NoError(t, err)

	a := testserver.New(t, testserver.Config{Script: []testserver.Fault{{Status: 503}}})
	b := testserver.New(t, testserver.Config{})
	mw := observe.New(observe.Config{Sinks: []observe.Sink{m}})
	call := func(srv *testserver.Server, path, body string) {
		tr := srv.Transport()
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: roundtripper.Chain(tr, mw, retryOnce, streamLayer)}
		resp, err := c.Post(srv.URL()+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
	}
	call(a, "/v1/chat/completions", `{"model":"m"}`)               // 503, then 200
	call(a, "/v1/chat/completions", `{"model":"m","stream":true}`) // a stream
	call(b, "/v1/messages/secret-user-path", `{}`)                 // another host: "other"; a 404

	fams := gather(t, reg)
	for _, name := range []string{
		"llmhttp_calls_total", "llmhttp_call_duration_seconds", "llmhttp_attempts_total",
		"llmhttp_retries_total", "llmhttp_retry_wait_seconds", "llmhttp_phase_seconds",
		"llmhttp_time_to_first_event_seconds", "llmhttp_time_to_first_token_seconds",
		"llmhttp_stream_tokens_total", "llmhttp_response_bytes_total", "llmhttp_token_gap_seconds",
	} {
		assert.Contains(t, fams, name)
	}

	// Bounded labels only: no path, no other label names.
	allowed := map[string]bool{"host": true, "method": true, "status_class": true, "outcome": true,
		"phase": true, "connection": true, "source": true}
	for name, f := range fams {
		for _, mt := range f.GetMetric() {
			for k, v := range labels(mt) {
				assert.True(t, allowed[k], "%s has label %s", name, k)
				assert.NotContains(t, v, "/", "%s{%s=%q}", name, k, v)
				assert.NotContains(t, v, "secret")
			}
		}
	}

	calls := map[string]float64{}
	for _, mt := range fams["llmhttp_calls_total"].GetMetric() {
		l := labels(mt)
		calls[l["host"]+" "+l["method"]+" "+l["status_class"]+" "+l["outcome"]] = mt.GetCounter().GetValue()
	}
	assert.Equal(t, map[string]float64{
		a.Addr() + " POST 2xx none":      1,
		a.Addr() + " POST 2xx completed": 1,
		"other POST 4xx none":            1,
	}, calls)

	conns := map[string]float64{}
	for _, mt := range fams["llmhttp_attempts_total"].GetMetric() {
		l := labels(mt)
		conns[l["host"]+" "+l["connection"]] += mt.GetCounter().GetValue()
	}
	assert.Equal(t, 2.0, conns[a.Addr()+" new"])    // the first attempt of each call, each on a new transport
	assert.Equal(t, 1.0, conns[a.Addr()+" reused"]) // the retry
	assert.Equal(t, 1.0, conns["other new"])

	retries := fams["llmhttp_retries_total"].GetMetric()
	require.Len(t, retries, 1)
	assert.Equal(t, "backoff", labels(retries[0])["source"])

	phases := map[string]uint64{}
	for _, mt := range fams["llmhttp_phase_seconds"].GetMetric() {
		l := labels(mt)
		phases[l["host"]+" "+l["phase"]] = mt.GetHistogram().GetSampleCount()
	}
	assert.Equal(t, uint64(2), phases[a.Addr()+" connect"])
	assert.Equal(t, uint64(3), phases[a.Addr()+" headers"])

	tokens := map[string]float64{}
	for _, mt := range fams["llmhttp_stream_tokens_total"].GetMetric() {
		tokens[labels(mt)["host"]] = mt.GetCounter().GetValue()
	}
	assert.Equal(t, map[string]float64{a.Addr(): 2, "other": 0}, tokens)

	gaps := fams["llmhttp_token_gap_seconds"].GetMetric()
	require.Len(t, gaps, 1)
	h := gaps[0].GetHistogram()
	assert.Equal(t, uint64(1), h.GetSampleCount())
	assert.Len(t, h.GetBucket(), observe.NumGapBuckets-1)
	assert.Equal(t, uint64(1), h.GetBucket()[len(h.GetBucket())-1].GetCumulativeCount())
}

func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := prom.New(reg, prom.Config{})
	require.NoError(t, err)
	_, err = prom.New(reg, prom.Config{})
	require.Error(t, err)
	_, err = prom.New(reg, prom.Config{Namespace: "other"})
	require.NoError(t, err)
}

func TestUnboundedValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg, prom.Config{MaxHosts: 2})
	require.NoError(t, err)
	for i := range 50 {
		m.Observe(&observe.Report{
			Method: strings.Repeat("X", i+1),
			Host:   strings.Repeat("h", i+1),
			Status: 200 + i,
			Attempts: []observe.Attempt{{N: 1, RetryWait: time.Millisecond,
				RetrySource: "Source With Spaces " + strings.Repeat("s", i)}},
			Outcome: roundtripper.StreamOutcome(strings.Repeat("o", i+1)),
		})
	}
	fams := gather(t, reg)
	values := map[string]map[string]bool{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for k, v := range labels(mt) {
				if values[k] == nil {
					values[k] = map[string]bool{}
				}
				values[k][v] = true
			}
		}
	}
	assert.Len(t, values["host"], 3) // two hosts, then "other"
	assert.Equal(t, map[string]bool{"OTHER": true}, values["method"])
	assert.Equal(t, map[string]bool{"2xx": true}, values["status_class"])
	assert.Equal(t, map[string]bool{"other": true}, values["outcome"])
	assert.Equal(t, map[string]bool{"other": true}, values["source"])
}

func BenchmarkObserve(b *testing.B) {
	m, err := prom.New(prometheus.NewRegistry(), prom.Config{})
	require.NoError(b, err)
	r := &observe.Report{
		Method: "POST", Host: "api.example.com", Status: 200, Duration: time.Second, BytesRead: 512,
		Attempts: []observe.Attempt{{N: 1, GotConn: time.Millisecond, FirstByte: 300 * time.Millisecond, Reused: true}},
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(r)
	}
}
