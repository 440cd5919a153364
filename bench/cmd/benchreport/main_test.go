package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sample = `goos: linux
goarch: amd64
pkg: github.com/llmhttp/llmhttp/bench/sse
BenchmarkDecode/openai/llmhttp-2         	   10000	    115035 ns/op	3357.00 MB/s	     120 B/op	       1 allocs/op	   115.0 ns/event
BenchmarkDecode/openai/r3labs-2          	     400	   2848207 ns/op	 102.00 MB/s	  700000 B/op	    4040 allocs/op
BenchmarkDecode/openai/llmhttp-2         	   10000	    125035 ns/op	3000.00 MB/s	     120 B/op	       1 allocs/op	   125.0 ns/event
BenchmarkDecode/openai/r3labs-2          	     400	   2648207 ns/op	 110.00 MB/s	  700000 B/op	    4040 allocs/op
BenchmarkDecode/openai/llmhttp-2 is a log line, not a result
BenchmarkOverhead-2   3000   462761 ns/op   1.237 ratio   345 allocs/op
PASS
`

func TestParseBench(t *testing.T) {
	names, values, units := parseBench(strings.NewReader(sample))
	require.Equal(t, []string{"BenchmarkDecode/openai/llmhttp", "BenchmarkDecode/openai/r3labs", "BenchmarkOverhead"}, names)
	assert.Equal(t, []float64{115035, 125035}, values["BenchmarkDecode/openai/llmhttp"]["ns/op"])
	assert.Equal(t, []string{"ns/op", "MB/s", "B/op", "allocs/op", "ns/event"}, units["BenchmarkDecode/openai/llmhttp"])
	assert.Equal(t, []float64{1.237}, values["BenchmarkOverhead"]["ratio"])
}

func TestWriteGroupRatios(t *testing.T) {
	names, values, units := parseBench(strings.NewReader(sample))
	var res []result
	for _, n := range names {
		r := result{Name: n, Metrics: map[string]float64{}, Units: units[n]}
		for u, vs := range values[n] {
			r.Metrics[u] = median(vs)
		}
		res = append(res, r)
	}
	var buf bytes.Buffer
	writeGroup(&buf, group{Title: "SSE", Pkg: "./bench/sse", Bench: "Decode", Baseline: "llmhttp"}, 2, res)
	out := buf.String()
	// Medians: llmhttp 120035, r3labs 2748207; ratio 22.90.
	assert.Contains(t, out, "| `Decode/openai/llmhttp` | 120035 | 3178 | 1 | 1.00 | 120 ns/event |")
	assert.Contains(t, out, "| `Decode/openai/r3labs` | 2748207 | 106 | 4040 | 22.90 |")
	assert.Contains(t, out, "1.237 ratio")
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkX-2":            "BenchmarkX",
		"BenchmarkX/a-b":          "BenchmarkX/a-b",
		"BenchmarkX/net.Dialer-8": "BenchmarkX/net.Dialer",
		"BenchmarkX":              "BenchmarkX",
	} {
		assert.Equal(t, want, trimProcs(in), in)
	}
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 0.0, median(nil))
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
}

func TestPlotCDF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ttft.png")
	err := plotCDF(path, "TTFT", []series{
		{Name: "a", Samples: []time.Duration{time.Millisecond, 3 * time.Millisecond, 0}},
		{Name: "b", Samples: []time.Duration{2 * time.Millisecond}},
	})
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte("\x89PNG")), "not a PNG")
	require.Error(t, plotCDF(path, "empty", nil))
}

func FuzzParseBench(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkX-2 1 2 ns/op 3")
	f.Add("Benchmark 1 x y")
	f.Fuzz(func(t *testing.T, in string) {
		names, values, units := parseBench(strings.NewReader(in))
		for _, n := range names {
			require.NotNil(t, values[n])
			require.Len(t, units[n], len(values[n]))
		}
	})
}
