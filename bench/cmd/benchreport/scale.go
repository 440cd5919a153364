package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/llmhttp/llmhttp/bench/scale"
)

// runScale writes the 10,000-stream run (1% of them stalled), with a bare
// http.Transport baseline.
func runScale(ctx context.Context, e *env, w io.Writer) error {
	opt := scale.ScaleOptions{Baseline: true}
	if e.Quick {
		opt.Streams = 1000
	}
	rep, err := scale.RunScale(ctx, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Scale\n\n")
	if err := rep.Markdown(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return nil
}

// runBurst writes the 1,000-call burst per transport preset and plots the
// time-to-first-token distributions next to the report.
func runBurst(ctx context.Context, e *env, w io.Writer) error {
	opt := scale.BurstOptions{}
	if e.Quick {
		opt.Calls = 300
	}
	rep, err := scale.RunBurst(ctx, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Connections and time to first token by transport preset\n\n")
	if err := rep.Markdown(w); err != nil {
		return err
	}
	var ss []series
	for _, r := range rep.Rows {
		ss = append(ss, series{Name: r.Name, Samples: r.TTFT})
	}
	png := filepath.Join(filepath.Dir(e.Out), "BENCHMARKS-ttft.png")
	calls := 0
	for _, r := range rep.Rows {
		calls = max(calls, r.OK+errCount(r.Errors))
	}
	title := fmt.Sprintf("Time to first token, burst of %d streaming calls", calls)
	if err := plotCDF(png, title, ss); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n![Time to first token by transport preset](%s)\n\n", filepath.Base(png))
	return nil
}

func errCount(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
