package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

func printTable(out io.Writer, calls int, plain, llm result) {
	w := tabwriter.NewWriter(out, 0, 0, 3, ' ', tabwriter.AlignRight)
	row := func(name, a, b string) { fmt.Fprintf(w, "%s\t%s\t%s\t\n", name, a, b) }
	row("", "net/http", "llmhttp")
	row("calls succeeded", fmt.Sprintf("%d/%d", plain.ok, calls), fmt.Sprintf("%d/%d", llm.ok, calls))
	row("p50 time to first token", pct(plain.ttft, 50), pct(llm.ttft, 50))
	row("p99 time to first token", pct(plain.ttft, 99), pct(llm.ttft, 99))
	row("connections opened", fmt.Sprint(plain.conns), fmt.Sprint(llm.conns))
	row("requests sent", fmt.Sprint(plain.attempts), fmt.Sprint(llm.attempts))
	row("retries (inside the client)", "0", fmt.Sprint(max(0, llm.attempts-int64(calls)-llm.reissued)))
	row("stalls caught", "0", fmt.Sprint(llm.stalls+llm.reissued))
	row("wall time", plain.wall.Round(100*time.Millisecond).String(), llm.wall.Round(100*time.Millisecond).String())
	_ = w.Flush()
	fmt.Fprintln(out, "\n(time to first token counts from the start of the call: llmhttp's includes its retries and\n the pause every caller of a host takes after a 429, so that they do not all hit the limit again.)")
	for _, r := range []struct {
		name string
		res  result
	}{{"net/http", plain}, {"llmhttp", llm}} {
		if len(r.res.errs) == 0 {
			continue
		}
		fmt.Fprintf(out, "\n%s failures:\n", r.name)
		for _, k := range slices.Sorted(maps.Keys(r.res.errs)) {
			fmt.Fprintf(out, "  %4d  %s\n", r.res.errs[k], k)
			if e := r.res.examples[k]; e != "" && e != k {
				fmt.Fprintf(out, "        first: %s\n", e)
			}
		}
	}
	if llm.reissued > 0 {
		fmt.Fprintf(out, "\n(llmhttp cut %d stream(s) that stalled after their first token with sse.ErrTokenIntervalTimeout; the program sent those calls again.)\n", llm.reissued)
	}
}

// pct is the p-th percentile of sorted durations.
func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	i := min(len(d)-1, (len(d)*p+99)/100-1)
	return d[max(0, i)].Round(time.Millisecond).String()
}
