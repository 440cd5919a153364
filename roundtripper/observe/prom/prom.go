package prom

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
)

// Config says how the metrics are named and bucketed. The zero Config is
// ready to use.
type Config struct {
	// Namespace prefixes every metric name; zero means "llmhttp".
	Namespace string

	// Buckets are the upper bounds, in seconds, of the latency histograms
	// (call duration, phases, time to first event and token, retry waits);
	// nil means [DefaultBuckets].
	Buckets []float64

	// MaxHosts bounds the distinct values of the host label; the calls to
	// any further host are counted under "other". Zero means 32.
	MaxHosts int
}

// DefaultBuckets returns the default latency buckets, in seconds: from 5ms
// (a pool wait, a loopback TLS handshake) to 300s (a long generation).
func DefaultBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
}

func (c *Config) namespace() string {
	if c.Namespace == "" {
		return "llmhttp"
	}
	return c.Namespace
}

func (c *Config) buckets() []float64 {
	if c.Buckets == nil {
		return DefaultBuckets()
	}
	return append([]float64(nil), c.Buckets...)
}

func (c *Config) maxHosts() int {
	if c.MaxHosts <= 0 {
		return 32
	}
	return c.MaxHosts
}

// Metrics turns observe's reports into Prometheus metrics. It is an
// [observe.Sink]: put it in observe.Config.Sinks. Its methods are safe for
// concurrent use.
//
// Every label has a bounded set of values: host (at most Config.MaxHosts,
// then "other"), method (the standard methods, else "OTHER"), status_class
// ("1xx" to "5xx", or "error" when no response came), outcome (the stream
// outcomes, "unknown", or "none" for a call that is not a stream), phase,
// connection ("new", "reused", "none") and retry source (at most 16 short
// names, then "other"). Never the URL's path, nor anything the caller or the
// server chooses freely.
type Metrics struct {
	calls     *prometheus.CounterVec   // host, method, status_class, outcome
	duration  *prometheus.HistogramVec // host, method, status_class
	attempts  *prometheus.CounterVec   // host, method, connection
	retries   *prometheus.CounterVec   // host, source
	retryWait *prometheus.HistogramVec // host
	phases    *prometheus.HistogramVec // host, phase
	ttfe      *prometheus.HistogramVec // host, method
	ttft      *prometheus.HistogramVec // host, method
	tokens    *prometheus.CounterVec   // host
	buffered  *prometheus.CounterVec   // host
	bytes     *prometheus.CounterVec   // host, method
	gaps      *gapCollector            // host

	maxHosts int

	// mu guards the caches of resolved series, which spare Observe most
	// label lookups (each hashes its label values); their keys are bounded
	// like the labels.
	mu       sync.Mutex
	hosts    map[string]*hostSeries
	sources  map[string]struct{}
	byCall   map[callKey]*callSeries
	byMethod map[methodKey]*methodSeries
}

type callKey struct{ host, method, class, outcome string }

type callSeries struct {
	calls    prometheus.Counter
	duration prometheus.Observer
}

type methodKey struct{ host, method string }

type methodSeries struct {
	attempts   [3]prometheus.Counter // by connection: none, new, reused
	ttfe, ttft prometheus.Observer
	bytes      prometheus.Counter
}

var connLabels = [3]string{"none", "new", "reused"}

type hostSeries struct {
	phases    [len(phaseLabels)]prometheus.Observer
	retryWait prometheus.Observer
	tokens    prometheus.Counter
	buffered  prometheus.Counter
}

var phaseLabels = [...]string{"dns", "connect", "tls", "pool_wait", "headers"}

var _ observe.Sink = (*Metrics)(nil)

// New makes the metrics and registers them with reg; a nil reg means
// prometheus.DefaultRegisterer. It fails if reg already has metrics of the
// same names.
func New(reg prometheus.Registerer, cfg Config) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	ns := cfg.namespace()
	b := cfg.buckets()
	hist := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: b}, labels)
	}
	count := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	m := &Metrics{
		calls:     count("calls_total", "LLM HTTP calls, by final status class and stream outcome.", "host", "method", "status_class", "outcome"),
		duration:  hist("call_duration_seconds", "Duration of LLM HTTP calls, from RoundTrip to the end of the body, retries included.", "host", "method", "status_class"),
		attempts:  count("attempts_total", "Attempts (trips through the transport), by whether the connection was new or reused.", "host", "method", "connection"),
		retries:   count("retries_total", "Retry waits, by where the wait came from.", "host", "source"),
		retryWait: hist("retry_wait_seconds", "Waits between attempts.", "host"),
		phases:    hist("phase_seconds", "Phases of attempts: dns, connect, tls, pool_wait, headers (time to the first response byte).", "host", "phase"),
		ttfe:      hist("time_to_first_event_seconds", "Time from the start of a streaming call to its first event.", "host", "method"),
		ttft:      hist("time_to_first_token_seconds", "Time from the start of a streaming call to its first content token.", "host", "method"),
		tokens:    count("stream_tokens_total", "Content tokens received in streams.", "host"),
		buffered:  count("buffered_streams_total", "Streams whose tokens all arrived in one burst at the end, as through a buffering proxy.", "host"),
		bytes:     count("response_bytes_total", "Response body bytes read by callers.", "host", "method"),
		gaps:      newGapCollector(prometheus.BuildFQName(ns, "", "token_gap_seconds")),
		maxHosts:  cfg.maxHosts(),
		hosts:     make(map[string]*hostSeries),
		sources:   make(map[string]struct{}),
		byCall:    make(map[callKey]*callSeries),
		byMethod:  make(map[methodKey]*methodSeries),
	}
	for _, c := range []prometheus.Collector{
		m.calls, m.duration, m.attempts, m.retries, m.retryWait, m.phases,
		m.ttfe, m.ttft, m.tokens, m.buffered, m.bytes, m.gaps,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Observe records r. It keeps nothing of r.
func (m *Metrics) Observe(r *observe.Report) {
	var src [8]string
	m.mu.Lock()
	host := m.hostLabel(r.Host)
	method := methodLabel(r.Method)
	hs := m.hostSeries(host)
	ms := m.methodSeries(host, method)
	cs := m.callSeries(host, method, statusClass(r), outcomeLabel(r))
	m.sourceLabels(r, &src)
	m.mu.Unlock()

	cs.calls.Inc()
	cs.duration.Observe(r.Duration.Seconds())
	if r.BytesRead > 0 {
		ms.bytes.Add(float64(r.BytesRead))
	}
	for i := range r.Attempts {
		a := &r.Attempts[i]
		conn := 0
		if a.GotConn > 0 {
			conn = 1
			if a.Reused {
				conn = 2
			}
		}
		ms.attempts[conn].Inc()
		for p, d := range [len(phaseLabels)]time.Duration{
			a.DNS.Duration(), a.Connect.Duration(), a.TLS.Duration(), a.PoolWait, a.TimeToHeaders(),
		} {
			if d > 0 {
				hs.phases[p].Observe(d.Seconds())
			}
		}
		if a.RetryWait > 0 {
			s := "other"
			if i < len(src) && src[i] != "" {
				s = src[i]
			}
			m.retries.WithLabelValues(host, s).Inc()
			hs.retryWait.Observe(a.RetryWait.Seconds())
		}
	}
	if r.Stream {
		if r.FirstEvent > 0 {
			ms.ttfe.Observe(r.FirstEvent.Seconds())
		}
		if r.FirstToken > 0 {
			ms.ttft.Observe(r.FirstToken.Seconds())
		}
		if r.Tokens > 0 {
			hs.tokens.Add(float64(r.Tokens))
		}
		if r.Buffered {
			hs.buffered.Inc()
		}
		if r.Gaps.Count > 0 {
			m.gaps.add(host, &r.Gaps)
		}
	}
}

// hostLabel bounds the host label; m.mu is held.
func (m *Metrics) hostLabel(host string) string {
	if _, ok := m.hosts[host]; ok {
		return host
	}
	if host == "" || len(m.hosts) >= m.maxHosts {
		return "other"
	}
	m.hosts[host] = nil // resolved by hostSeries
	return host
}

// The series lookups below run with m.mu held.

func (m *Metrics) hostSeries(host string) *hostSeries {
	if s := m.hosts[host]; s != nil {
		return s
	}
	s := &hostSeries{
		retryWait: m.retryWait.WithLabelValues(host),
		tokens:    m.tokens.WithLabelValues(host),
		buffered:  m.buffered.WithLabelValues(host),
	}
	for i, p := range phaseLabels {
		s.phases[i] = m.phases.WithLabelValues(host, p)
	}
	m.hosts[host] = s
	return s
}

func (m *Metrics) methodSeries(host, method string) *methodSeries {
	k := methodKey{host, method}
	if s := m.byMethod[k]; s != nil {
		return s
	}
	s := &methodSeries{
		ttfe:  m.ttfe.WithLabelValues(host, method),
		ttft:  m.ttft.WithLabelValues(host, method),
		bytes: m.bytes.WithLabelValues(host, method),
	}
	for i, c := range connLabels {
		s.attempts[i] = m.attempts.WithLabelValues(host, method, c)
	}
	m.byMethod[k] = s
	return s
}

func (m *Metrics) callSeries(host, method, class, outcome string) *callSeries {
	k := callKey{host, method, class, outcome}
	if s := m.byCall[k]; s != nil {
		return s
	}
	s := &callSeries{
		calls:    m.calls.WithLabelValues(host, method, class, outcome),
		duration: m.duration.WithLabelValues(host, method, class),
	}
	m.byCall[k] = s
	return s
}

// maxSources bounds the distinct retry sources, which a retrying layer
// names: they are few and fixed, but nothing forces them to be.
const maxSources = 16

// sourceLabels fills src with the bounded retry source label of each of
// r's first attempts; m.mu is held.
func (m *Metrics) sourceLabels(r *observe.Report, src *[8]string) {
	for i := range r.Attempts {
		if i >= len(src) {
			break
		}
		s := r.Attempts[i].RetrySource
		if r.Attempts[i].RetryWait == 0 {
			continue
		}
		if _, ok := m.sources[s]; !ok {
			if len(m.sources) >= maxSources || !plainName(s) {
				s = "other"
			} else {
				m.sources[s] = struct{}{}
			}
		}
		src[i] = s
	}
}

// plainName accepts the short lower-case names retry sources are.
func plainName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func methodLabel(m string) string {
	switch m {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
		return m
	}
	return "OTHER"
}

func statusClass(r *observe.Report) string {
	switch {
	case r.Status >= 100 && r.Status < 600:
		return string(rune('0'+r.Status/100)) + "xx"
	case r.Status == 0:
		return "error"
	}
	return "other"
}

func outcomeLabel(r *observe.Report) string {
	switch r.Outcome {
	case "":
		return "none"
	case roundtripper.StreamCompleted, roundtripper.StreamTruncated, roundtripper.StreamStalled,
		roundtripper.StreamErrored, roundtripper.StreamCancelled, observe.OutcomeUnknown:
		return strings.ToLower(string(r.Outcome))
	}
	return "other"
}
