package scale

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Markdown writes the report as a Markdown section: the machine, a table of
// per-stream costs (llmhttp and, if measured, a bare http.Transport) and the
// stall-detection figures.
func (r *ScaleReport) Markdown(w io.Writer) error {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "### %d concurrent streams\n\n", r.Streams)
	proto := "HTTP/1.1 on loopback (one connection per stream)"
	if o.H2C {
		proto = "h2c on loopback (HTTP/2 with prior knowledge, many streams per connection)"
	}
	fmt.Fprintf(&b, "%s, GOMAXPROCS %d, %s. %s, server in a child process; "+
		"each stream %.3g token/s; %d stalled (silent after %d tokens), opened last; watchdog token interval %v.\n\n",
		r.GoVersion, r.GOMAXPROCS, r.Date.Format(time.DateOnly), proto, o.tps(), r.Stalled, o.stallAfter(), o.interval())
	b.WriteString("| client | open all | heap/stream | heap in use/stream | stack/stream | goroutines/stream | CPU over hold (s/s) | CPU/token | close all | wall | client CPU | server CPU | conns | errors |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	rows := []*StreamRun{&r.LLMHTTP}
	if r.Baseline != nil {
		rows = append([]*StreamRun{r.Baseline}, rows...)
	}
	for _, s := range rows {
		fmt.Fprintf(&b, "| %s | %v | %.1f KiB | %.1f KiB | %.1f KiB | %.2f | %.2f | %.0f µs | %v | %v | %v | %v | %d | %d |\n",
			s.Name, s.OpenTime.Round(time.Millisecond), s.HeapPerStream/1024, s.HeapInusePerStream/1024, s.StackPerStream/1024,
			s.GoroutinesPerStream, s.HoldCPU.Seconds()/max(s.HoldWall.Seconds(), 1e-9),
			float64(s.HoldCPU.Microseconds())/float64(max(s.Events, 1)), s.CloseTime.Round(time.Millisecond),
			s.Wall.Round(time.Millisecond), s.CPU.Round(time.Millisecond), s.ServerCPU.Round(time.Millisecond),
			s.ConnsAccepted, errCount(s.Errors))
	}
	b.WriteString("\nPer-stream figures are differences from before the first call, taken with every stream open, after a GC. " +
		"CPU over hold is the client process's CPU seconds per second while every stream streams; CPU/token divides it by the tokens read then. " +
		"The llmhttp run is longer by the time its stalls take to be caught.\n")
	d := r.LatenessDist
	fmt.Fprintf(&b, "\nStalls caught: %d of %d (ErrTokenIntervalTimeout), with at least %d streams open at each; healthy streams cut: %d.\n",
		r.Detected, r.Stalled, r.MinOpenAtDetection, r.FalseStalls)
	fmt.Fprintf(&b, "Detection lateness past the %v deadline: p50 %.1f ms, p99 %.1f ms, max %.1f ms.\n", o.interval(), ms(d.P50), ms(d.P99), ms(d.Max))
	writeErrors(&b, r.LLMHTTP.Errors)
	_, err := io.WriteString(w, b.String())
	return err
}

// Markdown writes the report as a Markdown section: one row per client with
// the connections opened and the time-to-first-token distribution.
func (r *BurstReport) Markdown(w io.Writer) error {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "### Burst of %d concurrent streaming calls\n\n", o.calls())
	fmt.Fprintf(&b, "%s, GOMAXPROCS %d, %s. HTTP/1.1 on loopback, server in a child process; each answer %d tokens at %.3g token/s. "+
		"TTFT is from the call's start (all at once) to its first content token.\n\n",
		r.GoVersion, r.GOMAXPROCS, r.Date.Format(time.DateOnly), o.tokens(), o.tps())
	b.WriteString("| client | max conns/host | conns opened | ok | errors | TTFT p50 | p90 | p99 | max | burst wall |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		per := "none"
		if row.Config.MaxConnsPerHost > 0 {
			per = fmt.Sprint(row.Config.MaxConnsPerHost)
		} else if strings.HasPrefix(row.Name, "llmhttp") {
			per = "40 (Streaming)"
		}
		d := row.TTFTDist
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %v |\n",
			row.Name, per, row.ConnsOpened, row.OK, errCount(row.Errors), ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max), row.Wall.Round(time.Millisecond))
	}
	for _, row := range r.Rows {
		if len(row.Errors) > 0 {
			fmt.Fprintf(&b, "\n%s errors:", row.Name)
			writeErrors(&b, row.Errors)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func errCount(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func writeErrors(b *strings.Builder, m map[string]int) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, "\n- %d × %s", m[k], k)
	}
	if len(m) > 0 {
		b.WriteString("\n")
	}
}
