package backoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCeiling(t *testing.T) {
	tests := []struct {
		name    string
		attempt int
		want    time.Duration
	}{
		{"first", 1, 100 * time.Millisecond},
		{"zero counts as first", 0, 100 * time.Millisecond},
		{"second", 2, 200 * time.Millisecond},
		{"fourth", 4, 800 * time.Millisecond},
		{"capped", 10, time.Second},
		{"huge", 1000, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Ceiling(tt.attempt, 100*time.Millisecond, time.Second))
		})
	}
	assert.Zero(t, Ceiling(1, 0, time.Second))
}

func TestFull(t *testing.T) {
	assert.Zero(t, Full(3, time.Second, time.Minute, func() float64 { return 0 }))
	assert.Equal(t, 2*time.Second, Full(3, time.Second, time.Minute, func() float64 { return 0.5 }))
	assert.Less(t, Full(3, time.Second, time.Minute, func() float64 { return 0.999999 }), 4*time.Second)
}

func BenchmarkFull(b *testing.B) {
	b.ReportAllocs()
	r := func() float64 { return 0.5 }
	for b.Loop() {
		Full(5, time.Second, time.Minute, r)
	}
}
