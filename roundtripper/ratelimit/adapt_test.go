package ratelimit

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestObserve(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		h       http.Header
		status  int
		hold    time.Duration
		reason  string
		rates   Rates
		remReq  int64
		remTok  int64
		tooMany int64
	}{
		{name: "nothing", h: hdr(), status: 200, remReq: -1, remTok: -1},
		{name: "openai learns limits", h: hdr(
			"x-ratelimit-limit-requests", "600", "x-ratelimit-remaining-requests", "599", "x-ratelimit-reset-requests", "100ms",
			"x-ratelimit-limit-tokens", "90000", "x-ratelimit-remaining-tokens", "89000", "x-ratelimit-reset-tokens", "1s"),
			status: 200, rates: Rates{600, 90000}, remReq: 599, remTok: 89000},
		{name: "configured limits win", cfg: Config{RequestsPerMinute: 60, TokensPerMinute: 1000},
			h: hdr("x-ratelimit-limit-requests", "600", "x-ratelimit-limit-tokens", "90000"), status: 200,
			rates: Rates{60, 1000}, remReq: -1, remTok: -1},
		{name: "requests exhausted", h: hdr("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "2s"),
			status: 200, hold: 2 * time.Second, reason: "requests", remReq: 0, remTok: -1},
		{name: "tokens exhausted", h: hdr("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "6m0s"),
			status: 200, hold: time.Minute, reason: "tokens", remReq: -1, remTok: 0},
		{name: "anthropic exhausted", h: hdr("anthropic-ratelimit-output-tokens-remaining", "0",
			"anthropic-ratelimit-output-tokens-reset", t0.Add(3*time.Second).Format(time.RFC3339)),
			status: 200, hold: 3 * time.Second, reason: "tokens", remReq: -1, remTok: -1},
		{name: "exhausted without reset", h: hdr("x-ratelimit-remaining-requests", "0"), status: 200, remReq: 0, remTok: -1},
		{name: "azure -1", h: hdr("x-ratelimit-limit-requests", "-1", "x-ratelimit-remaining-requests", "-1", "x-ratelimit-reset-requests", "1s"),
			status: 200, remReq: -1, remTok: -1},
		{name: "azure limit 0", h: hdr("x-ratelimit-limit-tokens", "0", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "1s"),
			status: 200, remReq: -1, remTok: -1},
		{name: "429 retry-after-ms", h: hdr("retry-after-ms", "1500"), status: 429, hold: 1500 * time.Millisecond, reason: "cooldown", remReq: -1, remTok: -1, tooMany: 1},
		{name: "429 retry-after", h: hdr("Retry-After", "3"), status: 429, hold: 3 * time.Second, reason: "cooldown", remReq: -1, remTok: -1, tooMany: 1},
		{name: "429 reset", h: hdr("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "700ms"), status: 429,
			hold: 700 * time.Millisecond, reason: "cooldown", remReq: -1, remTok: 0, tooMany: 1},
		{name: "429 bare", h: hdr(), status: 429, remReq: -1, remTok: -1, tooMany: 1},
		{name: "429 bare with cooldown", cfg: Config{Cooldown: time.Second}, h: hdr(), status: 429, hold: time.Second, reason: "cooldown", remReq: -1, remTok: -1, tooMany: 1},
		{name: "429 huge", h: hdr("Retry-After", "86400"), status: 429, hold: time.Minute, reason: "cooldown", remReq: -1, remTok: -1, tooMany: 1},
		{name: "429 huge capped", cfg: Config{MaxHold: 5 * time.Second}, h: hdr("Retry-After", "86400"), status: 429, hold: 5 * time.Second, reason: "cooldown", remReq: -1, remTok: -1, tooMany: 1},
		{name: "503 retry-after is not a cooldown", h: hdr("Retry-After", "3"), status: 503, remReq: -1, remTok: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &host{key: "h", remReq: -1, remTok: -1}
			remReq, remTok, held := h.observe(tt.h, tt.status, t0, &tt.cfg)
			assert.Equal(t, tt.hold > 0, held)
			assert.Equal(t, tt.remReq, remReq, "remaining requests")
			assert.Equal(t, tt.remTok, remTok, "remaining tokens")
			hold, reason := h.hold(t0)
			assert.Equal(t, tt.hold, hold)
			assert.Equal(t, tt.reason, reason)
			assert.Equal(t, tt.rates, h.rates(&tt.cfg))
			assert.Equal(t, tt.tooMany, h.stats.TooManyRequests)
		})
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore()
	rates := Rates{RequestsPerMinute: 120, TokensPerMinute: 600} // 2 req/s, burst 2; 10 tokens/s, burst 600
	res := func(at time.Duration, tokens int64, maxWait time.Duration) Grant {
		g, err := s.Reserve(ctx, Reservation{Key: "k", Now: t0.Add(at), Rates: rates, Requests: 1, Tokens: tokens, MaxWait: maxWait})
		require.NoError(t, err)
		return g
	}
	assert.Equal(t, Grant{OK: true, Reason: "requests"}, res(0, 100, -1))
	assert.Equal(t, Grant{OK: true, Reason: "requests"}, res(0, 100, -1))
	// The request bucket (burst 2) is empty: the third waits half a second.
	assert.Equal(t, Grant{OK: true, Wait: 500 * time.Millisecond, Reason: "requests"}, res(0, 100, -1))
	// Too long a wait takes nothing...
	assert.Equal(t, Grant{Wait: time.Second, Reason: "requests"}, res(0, 100, 900*time.Millisecond))
	// ...so the same call a second later goes at once.
	assert.Equal(t, Grant{OK: true, Reason: "requests"}, res(time.Second, 100, 0))
	// More than the bucket ever holds.
	assert.Equal(t, Grant{Wait: Never, Reason: "tokens"}, res(10*time.Second, 601, -1))
	// 400 tokens used, 200 left at 10s (+100 refilled): 500 tokens wait 20s.
	assert.Equal(t, Grant{Wait: 20 * time.Second, Reason: "tokens"}, res(10*time.Second, 500, 0))
	// Giving 300 back lets them go at once.
	s.Adjust(ctx, Adjustment{Key: "k", Now: t0.Add(10 * time.Second), Rates: rates, Tokens: -300, RemainingRequests: -1, RemainingTokens: -1})
	assert.Equal(t, Grant{OK: true, Reason: "requests"}, res(10*time.Second, 500, 0))
	// The server says 50 tokens are left (we think 100): lowered.
	s.Adjust(ctx, Adjustment{Key: "k", Now: t0.Add(10 * time.Second), Rates: rates, RemainingRequests: -1, RemainingTokens: 50})
	assert.Equal(t, Grant{Wait: 5 * time.Second, Reason: "tokens"}, res(10*time.Second, 100, 0))
	// A reservation after a cooldown starts at its end.
	g, err := s.Reserve(ctx, Reservation{Key: "other", Now: t0, After: 3 * time.Second, Rates: rates, Requests: 1, MaxWait: -1})
	require.NoError(t, err)
	assert.Equal(t, Grant{OK: true, Wait: 3 * time.Second, Reason: "requests"}, g)
}

// FuzzObserve feeds the header adaptation arbitrary header values and
// checks that it never panics and never stops a host for good: after
// MaxHold and a minute's refill, a one-request call goes at once.
func FuzzObserve(f *testing.F) {
	f.Add("600", "0", "6m0s", "90000", "-1", "1s", "1500", "", 429)
	f.Add("", "", "", "0", "0", "0s", "", "Wed, 21 Oct 2099 07:28:00 GMT", 429)
	f.Add("1", "0", "1h", "1", "0", "9999999h", "1e300", "99999999999999999999", 200)
	f.Add("5.5", "NaN", "20ms", "-0", "+Inf", "-1s", "abc", "1.5", 429)
	f.Fuzz(func(t *testing.T, limReq, remReq, resetReq, limTok, remTok, resetTok, retryMs, retryAfter string, status int) {
		h := http.Header{}
		set := func(k, v string) {
			if v != "" {
				h[k] = []string{v}
			}
		}
		set("X-Ratelimit-Limit-Requests", limReq)
		set("X-Ratelimit-Remaining-Requests", remReq)
		set("X-Ratelimit-Reset-Requests", resetReq)
		set("Anthropic-Ratelimit-Tokens-Limit", limTok)
		set("Anthropic-Ratelimit-Tokens-Remaining", remTok)
		set("Anthropic-Ratelimit-Tokens-Reset", resetTok)
		set("Retry-After-Ms", retryMs)
		set("Retry-After", retryAfter)

		cfg := Config{}
		l := New(cfg)
		hs := &host{key: "h", remReq: -1, remTok: -1}
		rr, rt, _ := hs.observe(h, status, t0, &l.cfg)
		hold, _ := hs.hold(t0)
		if hold < 0 || hold > l.cfg.maxHold() {
			t.Fatalf("hold %v out of [0, %v]", hold, l.cfg.maxHold())
		}
		rates := hs.rates(&l.cfg)
		if rates.RequestsPerMinute < 0 || rates.TokensPerMinute < 0 {
			t.Fatalf("negative rates %+v", rates)
		}
		ctx := context.Background()
		l.store.Adjust(ctx, Adjustment{Key: "h", Now: t0, Rates: rates, RemainingRequests: rr, RemainingTokens: rt})
		later := t0.Add(l.cfg.maxHold() + time.Minute + time.Second)
		after, _ := hs.hold(later)
		g, err := l.store.Reserve(ctx, Reservation{Key: "h", Now: later, After: after, Rates: rates, Requests: 1, MaxWait: -1})
		if err != nil || !g.OK || g.Wait != 0 {
			t.Fatalf("host still stopped a minute after MaxHold: %+v, %v (rates %+v)", g, err, rates)
		}
	})
}
