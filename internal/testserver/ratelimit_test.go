package testserver

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for the rate limiter.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func startClocked(t *testing.T, cfg Config, clk *fakeClock) *Server {
	s, err := start(cfg, clk.now)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRateLimitRequests(t *testing.T) {
	for _, p := range bothProtocols {
		t.Run(p.String(), func(t *testing.T) {
			clk := newFakeClock()
			s := startClocked(t, Config{Protocol: p, RequestsPerMinute: 2}, clk)
			c := client(t, s)
			h := func(r *http.Response) []string {
				return []string{r.Header.Get("x-ratelimit-limit-requests"), r.Header.Get("x-ratelimit-remaining-requests"), r.Header.Get("x-ratelimit-reset-requests")}
			}
			r1, _ := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, 200, r1.StatusCode)
			assert.Equal(t, []string{"2", "1", "30s"}, h(r1))
			clk.advance(15 * time.Second) // half a request back
			r2, _ := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, 200, r2.StatusCode)
			assert.Equal(t, []string{"2", "0", "45s"}, h(r2))

			r3, body := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, http.StatusTooManyRequests, r3.StatusCode)
			assert.Equal(t, "15", r3.Header.Get("retry-after"))
			assert.Equal(t, "15000", r3.Header.Get("retry-after-ms"))
			assert.Equal(t, []string{"2", "0", "45s"}, h(r3), "a refused request takes nothing")
			assert.Contains(t, body, `"code":"rate_limit_exceeded"`)

			clk.advance(15 * time.Second)
			r4, _ := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, 200, r4.StatusCode)

			// Probes are not limited.
			r5, _ := fetch(t, c, s, "/health", "", nil)
			assert.Equal(t, 200, r5.StatusCode)
			assert.Empty(t, r5.Header.Get("x-ratelimit-limit-requests"))
		})
	}
}

func TestRateLimitTokensAnthropic(t *testing.T) {
	clk := newFakeClock()
	s := startClocked(t, Config{TokensPerMinute: 1000}, clk)
	c := client(t, s)
	body := `{"max_tokens":500}` // 5 prompt tokens + 500
	r1, _ := fetch(t, c, s, "/v1/messages", body, nil)
	require.Equal(t, 200, r1.StatusCode)
	assert.Equal(t, "1000", r1.Header.Get("anthropic-ratelimit-tokens-limit"))
	assert.Equal(t, "495", r1.Header.Get("anthropic-ratelimit-tokens-remaining"))
	assert.Equal(t, "495", r1.Header.Get("anthropic-ratelimit-input-tokens-remaining"))
	assert.Equal(t, "1000", r1.Header.Get("anthropic-ratelimit-output-tokens-limit"))
	reset, err := time.Parse(time.RFC3339, r1.Header.Get("anthropic-ratelimit-tokens-reset"))
	require.NoError(t, err)
	assert.Equal(t, clk.now().Add(31*time.Second), reset, "505 of 1000 used: full again in 30.3s, rounded up")
	assert.Equal(t, "10000", r1.Header.Get("anthropic-ratelimit-requests-limit"), "nominal, not enforced")
	_, err = time.Parse(time.RFC3339, r1.Header.Get("anthropic-ratelimit-requests-reset"))
	require.NoError(t, err)

	r2, got := fetch(t, c, s, "/v1/messages", body, nil)
	assert.Equal(t, http.StatusTooManyRequests, r2.StatusCode)
	assert.Contains(t, got, `"type":"rate_limit_error"`)
	assert.Equal(t, "1", r2.Header.Get("retry-after"), "10 tokens short: 0.6s, rounded up")
	assert.NotEmpty(t, r2.Header.Get("request-id"))

	clk.advance(time.Second)
	r3, _ := fetch(t, c, s, "/v1/messages", body, nil)
	assert.Equal(t, 200, r3.StatusCode)

	// A request larger than the whole budget never fits.
	r4, _ := fetch(t, c, s, "/v1/messages", `{"max_tokens":5000}`, nil)
	assert.Equal(t, http.StatusTooManyRequests, r4.StatusCode)
	assert.Equal(t, "60", r4.Header.Get("retry-after"))
}

func TestRateLimitHeadersOpenAITokens(t *testing.T) {
	clk := newFakeClock()
	s := startClocked(t, Config{TokensPerMinute: 60000, RequestsPerMinute: 3000}, clk)
	c := client(t, s)
	r, _ := fetch(t, c, s, "/v1/responses", `{"max_output_tokens":1000}`, nil) // 7 prompt tokens
	assert.Equal(t, "60000", r.Header.Get("x-ratelimit-limit-tokens"))
	assert.Equal(t, "58993", r.Header.Get("x-ratelimit-remaining-tokens"))
	assert.Equal(t, "1.007s", r.Header.Get("x-ratelimit-reset-tokens"))
	assert.Equal(t, "20ms", r.Header.Get("x-ratelimit-reset-requests"))
	assert.Equal(t, "2999", r.Header.Get("x-ratelimit-remaining-requests"))
}

// The fault's headers override the computed ones, for tests that need a
// particular value.
func TestRateLimitHeaderOverride(t *testing.T) {
	s := New(t, Config{Script: []Fault{{Header: map[string]string{"x-ratelimit-remaining-requests": "0"}}}})
	r, _ := fetch(t, client(t, s), s, "/v1/chat/completions", streamChat, nil)
	assert.Equal(t, 200, r.StatusCode)
	assert.Equal(t, "0", r.Header.Get("x-ratelimit-remaining-requests"))
	assert.Equal(t, "10000", r.Header.Get("x-ratelimit-limit-requests"))
}

func TestOpenAIReset(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", time.Second: "1s", 6 * time.Minute: "6m0s", 20 * time.Millisecond: "20ms",
		17*time.Millisecond + 300*time.Microsecond: "17ms", 200 * time.Microsecond: "1ms",
	} {
		assert.Equal(t, want, openAIReset(d), d)
	}
}

// Nominal limits change what the headers report, and nothing is enforced.
func TestNominalLimits(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		rpm, tpm string
	}{
		{"default", Config{}, "10000", "2000000"},
		{"raised", Config{NominalRequestsPerMinute: 1000000, NominalTokensPerMinute: 50000000}, "1000000", "50000000"},
		{"enforced wins", Config{RequestsPerMinute: 5, NominalRequestsPerMinute: 1000000}, "5", "2000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startClocked(t, tt.cfg, newFakeClock())
			c := client(t, s)
			r, _ := fetch(t, c, s, "/v1/chat/completions", streamChat, nil)
			assert.Equal(t, http.StatusOK, r.StatusCode)
			assert.Equal(t, tt.rpm, r.Header.Get("x-ratelimit-limit-requests"))
			assert.Equal(t, tt.tpm, r.Header.Get("x-ratelimit-limit-tokens"))
		})
	}
}
