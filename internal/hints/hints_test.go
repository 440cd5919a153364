package hints

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{"none", hdr(), 0, false},
		{"ms", hdr("retry-after-ms", "1500"), 1500 * time.Millisecond, true},
		{"ms fraction", hdr("retry-after-ms", "20.5"), 20500 * time.Microsecond, true},
		{"ms wins over seconds", hdr("retry-after-ms", "100", "Retry-After", "30"), 100 * time.Millisecond, true},
		{"bad ms falls back", hdr("retry-after-ms", "soon", "Retry-After", "2"), 2 * time.Second, true},
		{"negative ms falls back", hdr("retry-after-ms", "-5", "Retry-After", "2"), 2 * time.Second, true},
		{"NaN ms", hdr("retry-after-ms", "NaN"), 0, false},
		{"seconds", hdr("Retry-After", "7"), 7 * time.Second, true},
		{"zero seconds", hdr("Retry-After", "0"), 0, true},
		{"fraction seconds", hdr("Retry-After", "1.5"), 1500 * time.Millisecond, true},
		{"negative seconds", hdr("Retry-After", "-3"), 0, false},
		{"space", hdr("Retry-After", " 4 "), 4 * time.Second, true},
		{"http date", hdr("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second, true},
		{"http date past", hdr("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), 0, true},
		{"garbage", hdr("Retry-After", "tomorrow"), 0, false},
		{"huge", hdr("Retry-After", "99999999999999999999999"), maxHint, true},
		{"huge ms", hdr("retry-after-ms", "1e300"), maxHint, true},
		{"inf", hdr("Retry-After", "+Inf"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := RetryAfter(tt.h, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1s", time.Second, true},
		{"6m0s", 6 * time.Minute, true},
		{"20ms", 20 * time.Millisecond, true},
		{"1h2m3.5s", time.Hour + 2*time.Minute + 3500*time.Millisecond, true},
		{"7.66s", 7660 * time.Millisecond, true},
		{"0s", 0, true},
		{"60", time.Minute, true},
		{"0.5", 500 * time.Millisecond, true},
		{"", 0, false},
		{"-1s", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
		{"1x", 0, false},
		{"9999999h", 0, false}, // overflows a Duration: malformed
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, ok := ParseDuration(tt.in)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

func TestParseResetTime(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"future", now.Add(30 * time.Second).Format(time.RFC3339), 30 * time.Second, true},
		{"past", now.Add(-30 * time.Second).Format(time.RFC3339), 0, true},
		{"fractional", "2026-11-25T10:00:01.5Z", 1500 * time.Millisecond, true},
		{"offset", "2026-11-25T11:00:10+01:00", 10 * time.Second, true},
		{"garbage", "later", 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := ParseResetTime(tt.in, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want Limits
	}{
		{"none", hdr(), Limits{}},
		{"openai", hdr(
			"x-ratelimit-limit-requests", "500",
			"x-ratelimit-remaining-requests", "499",
			"x-ratelimit-reset-requests", "120ms",
			"x-ratelimit-limit-tokens", "30000",
			"x-ratelimit-remaining-tokens", "0",
			"x-ratelimit-reset-tokens", "6m0s",
		), Limits{
			Requests: Bucket{Limit: 500, Remaining: 499, Reset: 120 * time.Millisecond, HasLimit: true, HasRemaining: true, HasReset: true},
			Tokens:   Bucket{Limit: 30000, Remaining: 0, Reset: 6 * time.Minute, HasLimit: true, HasRemaining: true, HasReset: true},
		}},
		{"anthropic", hdr(
			"anthropic-ratelimit-requests-limit", "50",
			"anthropic-ratelimit-requests-remaining", "0",
			"anthropic-ratelimit-requests-reset", now.Add(20*time.Second).Format(time.RFC3339),
			"anthropic-ratelimit-input-tokens-limit", "40000",
			"anthropic-ratelimit-input-tokens-remaining", "39000",
			"anthropic-ratelimit-output-tokens-reset", now.Add(5*time.Second).Format(time.RFC3339),
		), Limits{
			Requests:     Bucket{Limit: 50, Remaining: 0, Reset: 20 * time.Second, HasLimit: true, HasRemaining: true, HasReset: true},
			InputTokens:  Bucket{Limit: 40000, Remaining: 39000, HasLimit: true, HasRemaining: true},
			OutputTokens: Bucket{Reset: 5 * time.Second, HasReset: true},
		}},
		{"azure negative and junk", hdr(
			"x-ratelimit-remaining-requests", "-1",
			"x-ratelimit-remaining-tokens", "lots",
			"x-ratelimit-reset-tokens", "-2s",
		), Limits{}},
		{"float counts", hdr("x-ratelimit-remaining-tokens", "12.0"), Limits{Tokens: Bucket{Remaining: 12, HasRemaining: true}}},
		{"openai wins, anthropic fills", hdr(
			"x-ratelimit-remaining-requests", "3",
			"anthropic-ratelimit-requests-remaining", "9",
			"anthropic-ratelimit-requests-limit", "10",
		), Limits{Requests: Bucket{Limit: 10, Remaining: 3, HasLimit: true, HasRemaining: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseLimits(tt.h, now)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want != Limits{}, got.Any())
		})
	}
}

func TestResetHint(t *testing.T) {
	b := func(remaining int64, hasRemaining bool, reset time.Duration) Bucket {
		return Bucket{Remaining: remaining, HasRemaining: hasRemaining, Reset: reset, HasReset: true}
	}
	tests := []struct {
		name string
		l    Limits
		want time.Duration
		ok   bool
	}{
		{"none", Limits{}, 0, false},
		{"exhausted tokens", Limits{Requests: b(10, true, time.Second), Tokens: b(0, true, 6*time.Minute)}, 6 * time.Minute, true},
		{"longest exhausted", Limits{Requests: b(0, true, 2*time.Second), Tokens: b(0, true, time.Second)}, 2 * time.Second, true},
		{"none exhausted: soonest", Limits{Requests: b(5, true, 3*time.Second), Tokens: b(7, false, time.Second)}, time.Second, true},
		{"no reset", Limits{Requests: Bucket{Remaining: 0, HasRemaining: true}}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := tt.l.ResetHint()
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"1", "1500", "1.5", "-1", "6m0s", "20ms", "NaN", "+Inf", "1e400",
		"Wed, 21 Oct 2015 07:28:00 GMT", "2026-11-25T10:00:30Z", "", " ", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		for _, k := range []string{"Retry-After", "Retry-After-Ms",
			"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests",
			"X-Ratelimit-Reset-Tokens", "Anthropic-Ratelimit-Tokens-Reset", "Anthropic-Ratelimit-Requests-Remaining"} {
			h[k] = []string{v}
		}
		check := func(d time.Duration, ok bool) {
			if d < 0 || d > maxHint || (!ok && d != 0) {
				t.Fatalf("%q gave %v, %v", v, d, ok)
			}
		}
		check(RetryAfter(h, now))
		check(ParseDuration(v))
		check(ParseResetTime(v, now))
		l := ParseLimits(h, now)
		check(l.ResetHint())
		for _, b := range []Bucket{l.Requests, l.Tokens, l.InputTokens, l.OutputTokens} {
			if b.Limit < 0 || b.Remaining < 0 || b.Reset < 0 {
				t.Fatalf("%q gave negative bucket %+v", v, b)
			}
		}
	})
}

func BenchmarkParseLimits(b *testing.B) {
	h := hdr(
		"x-ratelimit-limit-requests", "500",
		"x-ratelimit-remaining-requests", "499",
		"x-ratelimit-reset-requests", "120ms",
		"x-ratelimit-limit-tokens", "30000",
		"x-ratelimit-remaining-tokens", "29000",
		"x-ratelimit-reset-tokens", "6m0s",
		"Retry-After", "3",
	)
	b.ReportAllocs()
	for b.Loop() {
		l := ParseLimits(h, now)
		_, _ = l.ResetHint()
		_, _ = RetryAfter(h, now)
	}
}

// parseLimitsByLookup is ParseLimits as it was first written, with a map
// lookup per header name: the reference the single pass is fuzzed against.
func parseLimitsByLookup(h http.Header, now time.Time) Limits {
	var l Limits
	if len(h) == 0 {
		return l
	}
	openAI := func(limit, remaining, reset string) Bucket {
		var b Bucket
		b.Limit, b.HasLimit = count(first(h, limit))
		b.Remaining, b.HasRemaining = count(first(h, remaining))
		if v := first(h, reset); v != "" {
			b.Reset, b.HasReset = ParseDuration(v)
		}
		return b
	}
	anthropic := func(limit, remaining, reset string) Bucket {
		var b Bucket
		b.Limit, b.HasLimit = count(first(h, limit))
		b.Remaining, b.HasRemaining = count(first(h, remaining))
		if v := first(h, reset); v != "" {
			b.Reset, b.HasReset = ParseResetTime(v, now)
		}
		return b
	}
	l.Requests = openAI("X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests")
	l.Tokens = openAI("X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens")
	fill(&l.Requests, anthropic("Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Requests-Reset"))
	fill(&l.Tokens, anthropic("Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset"))
	l.InputTokens = anthropic("Anthropic-Ratelimit-Input-Tokens-Limit", "Anthropic-Ratelimit-Input-Tokens-Remaining", "Anthropic-Ratelimit-Input-Tokens-Reset")
	l.OutputTokens = anthropic("Anthropic-Ratelimit-Output-Tokens-Limit", "Anthropic-Ratelimit-Output-Tokens-Remaining", "Anthropic-Ratelimit-Output-Tokens-Reset")
	return l
}

// FuzzParseLimits checks that the single pass over the header map reads
// what a lookup per name reads, whatever the names and values.
func FuzzParseLimits(f *testing.F) {
	f.Add("X-Ratelimit-Limit-Requests", "500", "Anthropic-Ratelimit-Requests-Limit", "7", "Anthropic-Ratelimit-Input-Tokens-Reset", "2026-11-25T10:00:30Z")
	f.Add("X-Ratelimit-Reset-Tokens", "6m0s", "Anthropic-Ratelimit-Tokens-Remaining", " 12 ", "X-Ratelimit-Limit-Requests-Day", "1")
	f.Add("Anthropic-Ratelimit-Output-Tokens-Remaining", "-1", "X-Ratelimit-Remaining-Tokens", "1.5", "Anthropic-Ratelimit-", "x")
	f.Add("x-ratelimit-limit-tokens", "9", "X-Ratelimit-Limit", "9", "Anthropic-Ratelimit-Unified-Reset", "2026-11-25T10:00:30Z")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		h := http.Header{k1: {v1}, k2: {v2}, k3: {v3}, "X-Ratelimit-Remaining-Requests": {v2}, "Anthropic-Ratelimit-Requests-Reset": {v3}}
		require.Equal(t, parseLimitsByLookup(h, now), ParseLimits(h, now))
	})
}
