package janitor

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseKeepAlive(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"timeout=5, max=1000", 5 * time.Second, true},
		{"max=100, timeout=75", 75 * time.Second, true},
		{"Timeout=60", 60 * time.Second, true},
		{" timeout = 3 ", 3 * time.Second, true},
		{`timeout="7"`, 7 * time.Second, true},
		{"timeout=0", 0, true},
		{"timeout=999999999999999999999", maxKeepAliveHint, true},
		{"timeout=", 0, false},
		{"timeout=-1", 0, false},
		{"timeout=1.5", 0, false},
		{"timeout=5s", 0, false},
		{"max=5", 0, false},
		{"", 0, false},
		{"timeouts=5", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseKeepAlive(tt.in)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseKeepAlive(f *testing.F) {
	for _, s := range []string{"timeout=5, max=1000", "max=1", `timeout="9"`, "timeout=", "timeout=99999999999999999999", ",,=,", "TIMEOUT=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseKeepAlive(s)
		if !ok {
			if d != 0 {
				t.Fatalf("%q: not ok but %v", s, d)
			}
			return
		}
		if d < 0 || d > maxKeepAliveHint || d%time.Second != 0 {
			t.Fatalf("%q: %v out of range", s, d)
		}
		if !strings.Contains(strings.ToLower(s), "timeout") {
			t.Fatalf("%q: ok without a timeout", s)
		}
	})
}

func BenchmarkParseKeepAlive(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ParseKeepAlive("timeout=5, max=1000")
	}
}
