package retry

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmhttp/llmhttp/internal/backoff"
	"github.com/llmhttp/llmhttp/internal/hints"
)

// After reads the server's wait hint from resp: retry-after-ms, then
// Retry-After (delta-seconds, or an HTTP-date taken relative to now). ok is
// false when there is none or it is invalid (malformed or negative); an
// HTTP-date in the past is a zero wait. A nil resp has no hint.
func After(resp *http.Response, now time.Time) (d time.Duration, ok bool) {
	if resp == nil {
		return 0, false
	}
	return hints.RetryAfter(resp.Header, now)
}

// serverWait returns the wait the server asked for and which header said
// so: retry-after-ms, then Retry-After, then, on a 429 only, the rate-limit
// reset headers (OpenAI's x-ratelimit-reset-*, Anthropic's
// anthropic-ratelimit-*-reset; the longest reset among exhausted buckets).
func serverWait(resp *http.Response, now time.Time) (time.Duration, string, bool) {
	if d, ok := hints.RetryAfter(resp.Header, now); ok {
		if v := resp.Header["Retry-After-Ms"]; len(v) > 0 {
			if ms, err := strconv.ParseFloat(strings.TrimSpace(v[0]), 64); err == nil && ms >= 0 {
				return d, "retry-after-ms", true
			}
		}
		return d, "retry-after", true
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return 0, "", false
	}
	l := hints.ParseLimits(resp.Header, now)
	d, ok := l.ResetHint()
	if !ok {
		return 0, "", false
	}
	if resp.Header["X-Ratelimit-Reset-Requests"] != nil || resp.Header["X-Ratelimit-Reset-Tokens"] != nil {
		return d, "x-ratelimit-reset", true
	}
	return d, "anthropic-ratelimit-reset", true
}

// backoff is the wait before retry number n (from 1) when the server gave
// no hint: "full jitter" over an exponential ceiling,
//
//	wait = rand[0, min(MaxDelay, BaseDelay·2^(n-1)))
//
// Full jitter (rather than ±50% around the ceiling) spreads the clients that
// failed together over the whole interval, which AWS's analysis of backoff
// schemes found to give the least total work and the fewest collisions for
// the same completion time; the ceiling still doubles, so a longer outage
// still thins the traffic out. The ceiling is internal/backoff's, the one
// formula ws's reconnects use too; the draw goes through the injectable
// integer source, so tests pin it.
func (t *transport) backoff(n int) time.Duration {
	return time.Duration(t.rand(int64(backoff.Ceiling(n, t.cfg.baseDelay(), t.cfg.maxDelay()))))
}

// hinted adds jitter to a server-given wait without ever shortening it: up
// to a tenth of the wait, at least a tenth of BaseDelay and at most
// BaseDelay, so clients told the same instant do not all come back at it.
func (t *transport) hinted(d time.Duration) time.Duration {
	base := t.cfg.baseDelay()
	spread := min(max(d/10, base/10), base)
	return d + time.Duration(t.rand(int64(spread)))
}

func randN(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}
