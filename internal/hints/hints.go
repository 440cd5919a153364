package hints

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxHint bounds any duration a header can produce. A larger value is not an
// error (a server may really ask for hours), but it is clamped so that adding
// it to a time cannot overflow; callers cap waits far below this anyway.
const maxHint = 1000 * 24 * time.Hour

// Canonical header keys, looked up directly in the map so that no key is
// canonicalised (and allocated) per response.
const (
	keyRetryAfterMs = "Retry-After-Ms"
	keyRetryAfter   = "Retry-After"
)

// RetryAfter reads the server's wait hint from h: retry-after-ms (OpenAI and
// Azure; milliseconds, fractions allowed), then Retry-After (RFC 9110:
// delta-seconds, or an HTTP-date taken relative to now; an HTTP-date in the
// past means zero). ok is false when neither header is present or valid.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	if v := first(h, keyRetryAfterMs); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && !math.IsInf(ms, 0) {
			return clamp(ms * float64(time.Millisecond)), true
		}
	}
	v := first(h, keyRetryAfter)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil { // only overflow is left: an absurdly long wait
			return maxHint, true
		}
		if secs > int64(maxHint/time.Second) {
			return maxHint, true
		}
		return time.Duration(secs) * time.Second, true
	}
	// Some servers send fractional seconds ("1.5"); accept them too.
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || math.IsInf(secs, 0) || math.IsNaN(secs) {
			return 0, false
		}
		return clamp(secs * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return until(t, now), true
}

// ParseDuration parses an OpenAI reset duration as sent in
// x-ratelimit-reset-requests and x-ratelimit-reset-tokens: Go-style
// durations such as "1s", "6m0s", "20ms", "1h2m3.5s". A bare number is taken
// as seconds, as some compatible servers send it. Negative values are invalid.
func ParseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	// A unit suffix ends in a letter; only a bare number is tried as a
	// float, so the common case costs no failed parse (and no allocation).
	if c := s[len(s)-1]; c >= '0' && c <= '9' || c == '.' {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false
		}
		return clamp(f * float64(time.Second)), true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return min(d, maxHint), true
}

// ParseResetTime parses an Anthropic reset time (RFC 3339, as sent in
// anthropic-ratelimit-*-reset) and returns how long from now it is. A time in
// the past is zero.
func ParseResetTime(s string, now time.Time) (time.Duration, bool) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	return until(t, now), true
}

// Bucket is what a server said about one of its limits.
type Bucket struct {
	Limit     int64         // the limit per window; valid when HasLimit
	Remaining int64         // what is left of it now; valid when HasRemaining
	Reset     time.Duration // until the bucket is full again; valid when HasReset

	HasLimit, HasRemaining, HasReset bool
}

// Exhausted reports whether the server said nothing is left of this bucket.
func (b Bucket) Exhausted() bool { return b.HasRemaining && b.Remaining <= 0 }

// Any reports whether the server said anything about this bucket.
func (b Bucket) Any() bool { return b.HasLimit || b.HasRemaining || b.HasReset }

// Limits is what one response said about the caller's rate limits. OpenAI
// sends Requests and Tokens; Anthropic also sends InputTokens and
// OutputTokens.
type Limits struct {
	Requests, Tokens, InputTokens, OutputTokens Bucket
}

// Any reports whether the response carried any rate-limit header.
func (l Limits) Any() bool {
	return l.Requests.Any() || l.Tokens.Any() || l.InputTokens.Any() || l.OutputTokens.Any()
}

// ParseLimits reads OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// and Anthropic's anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}.
// Where both are present, OpenAI's headers win. Negative or malformed numbers
// (Azure sends -1 at times) are treated as absent.
func ParseLimits(h http.Header, now time.Time) Limits {
	var l Limits
	if len(h) == 0 {
		return l
	}
	// One pass over the header map instead of eighteen lookups: a response
	// has a dozen or two headers, and most of the eighteen names are not
	// among them, so a lookup each (hashing a 35-byte key) costs more than
	// looking once at every key's prefix. Keys are matched in canonical
	// form, as net/http delivers them, and whole: "-Requests-Day" is not
	// "-Requests".
	var ar, at Bucket // Anthropic's requests and tokens, which OpenAI's win over
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(k, prefixOpenAI):
			kind, which, _ := strings.Cut(k[len(prefixOpenAI):], "-")
			var b *Bucket
			switch which {
			case "Requests":
				b = &l.Requests
			case "Tokens":
				b = &l.Tokens
			default:
				continue
			}
			setField(b, kind, strings.TrimSpace(vs[0]), ParseDuration)
		case strings.HasPrefix(k, prefixAnthropic):
			rest := k[len(prefixAnthropic):]
			i := strings.LastIndexByte(rest, '-')
			if i < 0 {
				continue
			}
			var b *Bucket
			switch rest[:i] {
			case "Requests":
				b = &ar
			case "Tokens":
				b = &at
			case "Input-Tokens":
				b = &l.InputTokens
			case "Output-Tokens":
				b = &l.OutputTokens
			default:
				continue
			}
			setField(b, rest[i+1:], strings.TrimSpace(vs[0]), func(v string) (time.Duration, bool) { return ParseResetTime(v, now) })
		}
	}
	fill(&l.Requests, ar)
	fill(&l.Tokens, at)
	return l
}

// The prefixes of the rate-limit headers, in canonical form.
const (
	prefixOpenAI    = "X-Ratelimit-"         // X-Ratelimit-{Limit,Remaining,Reset}-{Requests,Tokens}
	prefixAnthropic = "Anthropic-Ratelimit-" // Anthropic-Ratelimit-{Requests,Tokens,Input-Tokens,Output-Tokens}-{Limit,Remaining,Reset}
)

// setField sets the field of b that kind names ("Limit", "Remaining" or
// "Reset") from v, a trimmed header value; reset parses a reset.
func setField(b *Bucket, kind, v string, reset func(string) (time.Duration, bool)) {
	switch kind {
	case "Limit":
		b.Limit, b.HasLimit = count(v)
	case "Remaining":
		b.Remaining, b.HasRemaining = count(v)
	case "Reset":
		if v != "" {
			b.Reset, b.HasReset = reset(v)
		}
	}
}

// ResetHint is the wait a 429 with these headers implies: the longest reset
// among the buckets the server said are exhausted, or, when none is marked
// exhausted, the soonest reset of any bucket (the first moment anything frees
// up). ok is false when no bucket carries a reset.
func (l Limits) ResetHint() (time.Duration, bool) {
	buckets := [...]Bucket{l.Requests, l.Tokens, l.InputTokens, l.OutputTokens}
	var longest time.Duration
	found := false
	for _, b := range buckets {
		if b.Exhausted() && b.HasReset && (!found || b.Reset > longest) {
			longest, found = b.Reset, true
		}
	}
	if found {
		return longest, true
	}
	var soonest time.Duration
	for _, b := range buckets {
		if b.HasReset && (!found || b.Reset < soonest) {
			soonest, found = b.Reset, true
		}
	}
	return soonest, found
}

// fill copies into dst what src has and dst lacks.
func fill(dst *Bucket, src Bucket) {
	if !dst.HasLimit && src.HasLimit {
		dst.Limit, dst.HasLimit = src.Limit, true
	}
	if !dst.HasRemaining && src.HasRemaining {
		dst.Remaining, dst.HasRemaining = src.Remaining, true
	}
	if !dst.HasReset && src.HasReset {
		dst.Reset, dst.HasReset = src.Reset, true
	}
}

// count parses a non-negative integer header value. Fractions are truncated
// (some proxies rewrite counts as floats); anything else is absent.
func count(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return n, true
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > math.MaxInt64/2 || math.IsNaN(f) {
		return 0, false
	}
	return int64(f), true
}

func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func clamp(f float64) time.Duration {
	if f >= float64(maxHint) || math.IsNaN(f) {
		return maxHint
	}
	return time.Duration(f)
}

func until(t, now time.Time) time.Duration {
	d := t.Sub(now)
	if d < 0 {
		return 0
	}
	return min(d, maxHint)
}
