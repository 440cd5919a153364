package prom

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmhttp/llmhttp/roundtripper/observe"
)

// gapCollector exports the gaps between stream tokens as one histogram per
// host. A report carries its gaps already bucketed ([observe.Gaps]), with
// observe's fixed bounds, so the collector adds bucket counts instead of
// observing each gap: a stream of a thousand tokens costs one addition per
// bucket, not a thousand observations.
type gapCollector struct {
	desc *prometheus.Desc

	mu    sync.Mutex
	hosts map[string]*gapTotals
}

type gapTotals struct {
	count   uint64
	sum     float64
	buckets [observe.NumGapBuckets]uint64
}

func newGapCollector(name string) *gapCollector {
	return &gapCollector{
		desc:  prometheus.NewDesc(name, "Gaps between consecutive content tokens of streams.", []string{"host"}, nil),
		hosts: make(map[string]*gapTotals),
	}
}

func (g *gapCollector) add(host string, gaps *observe.Gaps) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.hosts[host]
	if t == nil {
		t = &gapTotals{}
		g.hosts[host] = t
	}
	t.count += uint64(gaps.Count)
	t.sum += gaps.Sum.Seconds()
	for i, n := range gaps.Buckets {
		t.buckets[i] += uint64(n)
	}
}

func (g *gapCollector) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gapCollector) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for host, t := range g.hosts {
		// Prometheus buckets are cumulative; the last observe bucket has no
		// bound and is the +Inf bucket, implied by count.
		cum := make(map[float64]uint64, observe.NumGapBuckets-1)
		var n uint64
		for i := range observe.NumGapBuckets - 1 {
			n += t.buckets[i]
			bound, _ := observe.GapBound(i)
			cum[bound.Seconds()] = n
		}
		m, err := prometheus.NewConstHistogram(g.desc, t.count, t.sum, cum, host)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(g.desc, err)
			continue
		}
		ch <- m
	}
}
