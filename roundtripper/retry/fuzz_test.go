package retry

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/llmhttp/llmhttp/roundtripper"
)

func TestAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"none", http.Header{}, 0, false},
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second, true},
		{"ms first", http.Header{"Retry-After": {"3"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond, true},
		{"date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second, true},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0, true},
		{"negative", http.Header{"Retry-After": {"-1"}}, 0, false},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0, false},
		{"bad ms falls back", http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"2"}}, 2 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := After(&http.Response{Header: tt.header}, now)
			if d != tt.want || ok != tt.ok {
				t.Errorf("After = %v, %v; want %v, %v", d, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := After(nil, now); ok {
		t.Error("a nil response has no hint")
	}
}

// FuzzAfter feeds arbitrary hint headers (Retry-After, retry-after-ms and
// the reset headers of both APIs) and error bodies through After and through
// a whole decision: never a panic, never a negative wait, never a wait
// beyond the caps, and the body always given back intact.
func FuzzAfter(f *testing.F) {
	seeds := []struct {
		ms, ra, resetReq, resetTok, remaining, anthropicReset string
		status                                                int
		body                                                  string
	}{
		{"", "5", "", "", "", "", 429, `{"error":{"code":"rate_limit_exceeded"}}`},
		{"1500", "", "", "", "", "", 503, ""},
		{"", "Wed, 25 Nov 2026 10:00:30 GMT", "", "", "", "", 429, ""},
		{"", "", "6m0s", "20ms", "0", "", 429, ""},
		{"", "", "1h2m3.5s", "1s", "0", "", 429, ""},
		{"", "", "", "", "0", "2026-11-25T10:00:07Z", 429, `{"type":"error","error":{"type":"rate_limit_error"}}`},
		{"-1", "-1", "-1s", "NaN", "-5", "yesterday", 503, "<html>"},
		{"1e400", "99999999999999999999999999", "9999999h", "1e308s", "1e30", "9999-12-31T23:59:59Z", 429, `{"error":{"code":"insufficient_quota"}}`},
		{"NaN", "Inf", "", "", "", "", 529, "\xff\xfe"},
	}
	for _, s := range seeds {
		f.Add(s.ms, s.ra, s.resetReq, s.resetTok, s.remaining, s.anthropicReset, s.status, s.body)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, ms, ra, resetReq, resetTok, remaining, anthropicReset string, status int, body string) {
		h := http.Header{}
		set := func(k, v string) {
			if v != "" {
				h[k] = []string{v}
			}
		}
		set("Retry-After-Ms", ms)
		set("Retry-After", ra)
		set("X-Ratelimit-Reset-Requests", resetReq)
		set("X-Ratelimit-Reset-Tokens", resetTok)
		set("X-Ratelimit-Remaining-Requests", remaining)
		set("Anthropic-Ratelimit-Requests-Remaining", remaining)
		set("Anthropic-Ratelimit-Requests-Reset", anthropicReset)
		status = 100 + abs(status)%600

		if d, ok := After(&http.Response{Header: h}, now); ok && d < 0 {
			t.Fatalf("After gave a negative wait %v", d)
		}
		if d, _, ok := serverWait(&http.Response{StatusCode: status, Header: h}, now); ok && d < 0 {
			t.Fatalf("serverWait gave a negative wait %v", d)
		}

		base := roundtripper.Func(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
		ft := &fakeTime{now: now}
		cfg := Config{MaxRetries: 1, DisableBudget: true, OnAttempt: func(a Attempt) {
			if !utf8.ValidString(a.Reason) {
				t.Fatal("bad reason")
			}
		}}
		rt := New(cfg)(base).(*transport)
		rt.now, rt.sleep = ft.Now, ft.Sleep
		req, _ := http.NewRequest(http.MethodGet, "http://api.example.com/v1/models", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("a response became an error: %v", err)
		}
		got, _ := io.ReadAll(resp.Body)
		if string(got) != body {
			t.Fatalf("body changed: %q, want %q", got, body)
		}
		limit := DefaultMaxRetryAfter + DefaultBaseDelay
		for _, w := range ft.Waits() {
			if w < 0 || w > limit {
				t.Fatalf("wait %v outside [0, %v]", w, limit)
			}
		}
		s := snippet([]byte(body))
		if len(s) > snippetLimit+len("…") || !utf8.ValidString(s) && utf8.ValidString(body) {
			t.Fatalf("bad snippet %q", s)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // the smallest int
			return 0
		}
		return -n
	}
	return n
}

func TestSnippet(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"error":{"message":"Rate limit reached","type":"requests"}}`, "Rate limit reached"},
		{`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "Overloaded"},
		{`{"error":"upstream down"}`, "upstream down"},
		{`{"message":"bad gateway"}`, "bad gateway"},
		{"<html>\n  503  </html>", "<html> 503 </html>"},
		{`{"error":{"message":"Incorrect API key provided: sk-proj-abc***xyz. Find yours"}}`, "Incorrect API key provided: [redacted] Find yours"},
		{`token Bearer abc.def rejected`, "token Bearer [redacted] rejected"},
		{strings.Repeat("é", 300), strings.Repeat("é", 100) + "…"},
	}
	for _, tt := range tests {
		if got := snippet([]byte(tt.body)); got != tt.want {
			t.Errorf("snippet(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
