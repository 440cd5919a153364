package scale

import (
	"slices"
	"time"
)

// Dist summarises a set of durations.
type Dist struct {
	N                       int
	P50, P90, P99, Max, Min time.Duration
}

// distOf returns the distribution of samples (nearest-rank percentiles).
func distOf(samples []time.Duration) Dist {
	if len(samples) == 0 {
		return Dist{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	q := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Dist{N: len(s), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: s[len(s)-1], Min: s[0]}
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
