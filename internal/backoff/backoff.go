// Package backoff holds the one backoff formula llmhttp uses wherever it
// waits before trying again: exponential growth with "full jitter".
package backoff

import "time"

// Full returns the wait before attempt number attempt (from 1):
//
//	wait = rnd() · min(max, base·2^(attempt-1))
//
// rnd returns a uniform value in [0, 1). Full jitter (rather than ±50%
// around the ceiling) spreads clients that failed together over the whole
// interval, which AWS's analysis of backoff schemes found to give the least
// total work and the fewest collisions; the ceiling still doubles, so a
// longer outage still thins the traffic out. A non-positive base or max
// gives 0; attempt below 1 counts as 1. The doubling is overflow-safe.
func Full(attempt int, base, max time.Duration, rnd func() float64) time.Duration {
	c := Ceiling(attempt, base, max)
	if c <= 0 {
		return 0
	}
	return time.Duration(rnd() * float64(c))
}

// Ceiling is the upper bound Full draws from: min(max, base·2^(attempt-1)).
func Ceiling(attempt int, base, max time.Duration) time.Duration {
	if base <= 0 || max <= 0 {
		return 0
	}
	shift := attempt - 1
	if shift < 0 {
		shift = 0
	}
	if shift >= 62 {
		return max
	}
	c := base << shift
	if c <= 0 || c>>shift != base || c > max {
		return max
	}
	return c
}
