package otelobserve

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmhttp/llmhttp/roundtripper/observe"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/llmhttp/llmhttp/roundtripper/observe/otelobserve"

// Config says where the spans and metrics go. The zero Config uses the
// global providers (otel.GetTracerProvider, otel.GetMeterProvider).
type Config struct {
	// TracerProvider makes the spans; nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider

	// MeterProvider makes the instruments; nil means
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider

	// DisableTraces and DisableMetrics turn either export off.
	DisableTraces  bool
	DisableMetrics bool

	// DurationBuckets are the bucket bounds, in seconds, of the duration
	// histograms; nil means [DefaultDurationBuckets].
	DurationBuckets []float64

	// MaxHosts bounds the distinct values of the server.address metric
	// attribute; calls to any further host are counted under "other". Zero
	// means 32. Spans always carry the real host.
	MaxHosts int
}

// DefaultDurationBuckets returns the default bucket bounds, in seconds: from
// 5ms (a pool wait, a loopback handshake) to 300s (a long generation), as
// LLM calls last far longer than the HTTP conventions' default buckets.
func DefaultDurationBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
}

func (c *Config) maxHosts() int {
	if c.MaxHosts <= 0 {
		return 32
	}
	return c.MaxHosts
}

func (c *Config) buckets() []float64 {
	if c.DurationBuckets == nil {
		return DefaultDurationBuckets()
	}
	return append([]float64(nil), c.DurationBuckets...)
}

// Exporter turns observe's reports into spans and metrics. It is an
// [observe.ContextSink]: put it in observe.Config.Sinks. Its methods are
// safe for concurrent use.
type Exporter struct {
	tracer   trace.Tracer // nil when traces are off
	inst     *instruments // nil when metrics are off
	maxHosts int

	mu    sync.Mutex
	hosts map[string]struct{} // the host values admitted, at most maxHosts
	sets  map[setKey]attribute.Set
}

var _ observe.ContextSink = (*Exporter)(nil)

// New returns an Exporter. It fails only when the meter provider refuses
// to make an instrument.
func New(cfg Config) (*Exporter, error) {
	e := &Exporter{
		maxHosts: cfg.maxHosts(),
		hosts:    make(map[string]struct{}),
		sets:     make(map[setKey]attribute.Set),
	}
	if !cfg.DisableTraces {
		tp := cfg.TracerProvider
		if tp == nil {
			tp = otel.GetTracerProvider()
		}
		e.tracer = tp.Tracer(ScopeName)
	}
	if !cfg.DisableMetrics {
		mp := cfg.MeterProvider
		if mp == nil {
			mp = otel.GetMeterProvider()
		}
		inst, err := newInstruments(mp.Meter(ScopeName), cfg.buckets())
		if err != nil {
			return nil, err
		}
		e.inst = inst
	}
	return e, nil
}

// Observe exports r with no parent span: observe calls ObserveContext
// instead, with the request's context.
func (e *Exporter) Observe(r *observe.Report) { e.ObserveContext(context.Background(), r) }

// ObserveContext exports r: its spans as children of the span in ctx, if
// any, and its metrics. It keeps nothing of r.
func (e *Exporter) ObserveContext(ctx context.Context, r *observe.Report) {
	if e.tracer != nil {
		e.spans(ctx, r)
	}
	if e.inst != nil {
		e.record(ctx, r)
	}
}
