package testserver

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits reported, but not enforced, when Config leaves RequestsPerMinute or
// TokensPerMinute at zero: a high usage tier's figures, so a client that
// adapts to the headers sees plenty of room.
const (
	nominalRPM = 10000
	nominalTPM = 2000000
)

// bucket is a token bucket holding up to limit units, refilled continuously
// at limit per minute: the "continuous replenishment" both OpenAI and
// Anthropic describe for their limits.
type bucket struct {
	limit  float64
	level  float64
	last   time.Time
	strict bool // enforced; otherwise it only feeds the headers
}

func (b *bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.level = b.limit
	} else if d := now.Sub(b.last); d > 0 {
		b.level = math.Min(b.limit, b.level+b.limit*d.Minutes())
	}
	b.last = now
}

// wait is how long until the bucket holds n units.
func (b *bucket) wait(n float64) time.Duration {
	if b.level >= n {
		return 0
	}
	if n > b.limit {
		return time.Minute // never fits; answer like a full window
	}
	return time.Duration((n - b.level) / b.limit * float64(time.Minute))
}

// limiter holds the server's request and token buckets. Its lock is taken
// once per API request, never per token.
type limiter struct {
	mu  sync.Mutex
	req bucket
	tok bucket
}

func newLimiter(cfg Config) *limiter {
	rpm, tpm := cfg.RequestsPerMinute, cfg.TokensPerMinute
	l := &limiter{
		req: bucket{limit: nominalRPM},
		tok: bucket{limit: nominalTPM},
	}
	if cfg.NominalRequestsPerMinute > 0 {
		l.req.limit = float64(cfg.NominalRequestsPerMinute)
	}
	if cfg.NominalTokensPerMinute > 0 {
		l.tok.limit = float64(cfg.NominalTokensPerMinute)
	}
	if rpm > 0 {
		l.req = bucket{limit: float64(rpm), strict: true}
	}
	if tpm > 0 {
		l.tok = bucket{limit: float64(tpm), strict: true}
	}
	return l
}

// rlState is the outcome of one admission: what the headers report and
// whether the request is refused.
type rlState struct {
	now                 time.Time
	reqLimit, reqRemain int
	reqReset            time.Duration // until the request bucket is full again
	tokLimit, tokRemain int
	tokReset            time.Duration
	limited             bool
	retryAfter          time.Duration
	limitedByTokens     bool
}

// take admits one request costing cost tokens at now, or refuses it when an
// enforced bucket lacks room (a refused request takes nothing).
func (l *limiter) take(now time.Time, cost int) rlState {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.req.refill(now)
	l.tok.refill(now)
	c := float64(cost)
	var st rlState
	st.now = now
	if w := l.req.wait(1); l.req.strict && w > 0 {
		st.limited, st.retryAfter = true, w
	}
	if w := l.tok.wait(c); l.tok.strict && w > 0 {
		st.limited = true
		if w > st.retryAfter {
			st.retryAfter, st.limitedByTokens = w, true
		}
	}
	if !st.limited {
		l.req.level = math.Max(0, l.req.level-1)
		l.tok.level = math.Max(0, l.tok.level-c)
	}
	fill := func(b *bucket) (int, int, time.Duration) {
		reset := time.Duration((b.limit - b.level) / b.limit * float64(time.Minute))
		return int(b.limit), int(math.Floor(b.level)), reset
	}
	st.reqLimit, st.reqRemain, st.reqReset = fill(&l.req)
	st.tokLimit, st.tokRemain, st.tokReset = fill(&l.tok)
	if !l.req.strict {
		l.req.level = l.req.limit // nominal: never runs dry
	}
	if !l.tok.strict {
		l.tok.level = l.tok.limit
	}
	return st
}

// anthropicTokenKeys are the canonical names of Anthropic's token-limit
// headers: limit, remaining and reset for tokens, input tokens and output tokens.
var anthropicTokenKeys = [3][3]string{
	{"Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset"},
	{"Anthropic-Ratelimit-Input-Tokens-Limit", "Anthropic-Ratelimit-Input-Tokens-Remaining", "Anthropic-Ratelimit-Input-Tokens-Reset"},
	{"Anthropic-Ratelimit-Output-Tokens-Limit", "Anthropic-Ratelimit-Output-Tokens-Remaining", "Anthropic-Ratelimit-Output-Tokens-Reset"},
}

// openAIReset formats a reset the way OpenAI does ("1s", "6m0s", "20ms").
func openAIReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d.Round(time.Millisecond).String()
}

// anthropicReset formats a reset as Anthropic does: the RFC 3339 time at
// which the bucket is full again, rounded up to the second.
func anthropicReset(now time.Time, d time.Duration) string {
	t := now.Add(d)
	if t2 := t.Truncate(time.Second); t2.Before(t) {
		t = t2.Add(time.Second)
	}
	return t.UTC().Format(time.RFC3339)
}

// setHeaders writes the rate-limit headers of st in the dialect's names.
func (st *rlState) setHeaders(h http.Header, anthropic bool) {
	itoa := strconv.Itoa
	if anthropic {
		reqReset := anthropicReset(st.now, st.reqReset)
		tokReset := anthropicReset(st.now, st.tokReset)
		h["Anthropic-Ratelimit-Requests-Limit"] = []string{itoa(st.reqLimit)}
		h["Anthropic-Ratelimit-Requests-Remaining"] = []string{itoa(st.reqRemain)}
		h["Anthropic-Ratelimit-Requests-Reset"] = []string{reqReset}
		limit, remain := []string{itoa(st.tokLimit)}, []string{itoa(st.tokRemain)}
		reset := []string{tokReset}
		for _, k := range anthropicTokenKeys {
			// One bucket stands for all three token limits; the header
			// values share their backing slices, which nobody modifies.
			h[k[0]], h[k[1]], h[k[2]] = limit, remain, reset
		}
	} else {
		h["X-Ratelimit-Limit-Requests"] = []string{itoa(st.reqLimit)}
		h["X-Ratelimit-Remaining-Requests"] = []string{itoa(st.reqRemain)}
		h["X-Ratelimit-Reset-Requests"] = []string{openAIReset(st.reqReset)}
		h["X-Ratelimit-Limit-Tokens"] = []string{itoa(st.tokLimit)}
		h["X-Ratelimit-Remaining-Tokens"] = []string{itoa(st.tokRemain)}
		h["X-Ratelimit-Reset-Tokens"] = []string{openAIReset(st.tokReset)}
	}
	if st.limited {
		secs := int(math.Ceil(st.retryAfter.Seconds()))
		h["Retry-After"] = []string{itoa(max(secs, 1))}
		h["Retry-After-Ms"] = []string{strconv.FormatInt(max(st.retryAfter.Milliseconds(), 1), 10)}
	}
}
