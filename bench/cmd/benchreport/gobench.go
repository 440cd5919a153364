package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// group is one comparison: a set of benchmarks run in one test binary, in
// one run, so that machine noise hits every contender alike.
type group struct {
	Title     string // section heading
	Pkg       string // package directory, relative to the repository root
	Bench     string // -test.bench pattern
	Benchtime string // -test.benchtime
	Baseline  string // sub-benchmark the ratio column divides by ("" = none)
	Note      string // one paragraph under the table
}

// result is one benchmark's median figures over the run's rounds.
type result struct {
	Name    string             // full name without the -GOMAXPROCS suffix
	Metrics map[string]float64 // unit -> median value
	Units   []string           // units in first-seen order
}

// parseBench reads `go test -bench` output and returns, per benchmark name in
// first-seen order, every value reported for each unit (one per round).
// Lines that are not benchmark results are ignored.
func parseBench(r io.Reader) (names []string, values map[string]map[string][]float64, units map[string][]string) {
	values = map[string]map[string][]float64{}
	units = map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // not a result line (e.g. a log line starting with the name)
		}
		name := trimProcs(f[0])
		m, ok := values[name]
		if !ok {
			m = map[string][]float64{}
			values[name] = m
			names = append(names, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			u := f[i+1]
			if _, seen := m[u]; !seen {
				units[name] = append(units[name], u)
			}
			m[u] = append(m[u], v)
		}
	}
	return names, values, units
}

// trimProcs removes the -N GOMAXPROCS suffix go test appends to names.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// runGroup compiles g's test binary and runs its benchmarks rounds times
// (-test.count), returning the median of each metric.
func runGroup(ctx context.Context, root, tmp string, g group, rounds int, log io.Writer) ([]result, error) {
	bin := filepath.Join(tmp, strings.NewReplacer("/", "_", ".", "_").Replace(g.Pkg)+".test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, g.Pkg)
	build.Dir = root
	build.Stderr = log
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building %s: %w", g.Pkg, err)
	}
	args := []string{"-test.run", "^$", "-test.bench", g.Bench, "-test.benchmem",
		"-test.count", strconv.Itoa(rounds)}
	if g.Benchtime != "" {
		args = append(args, "-test.benchtime", g.Benchtime)
	}
	run := exec.CommandContext(ctx, bin, args...)
	run.Dir = filepath.Join(root, g.Pkg)
	run.Stderr = log
	out, err := run.Output()
	if err != nil {
		os.Stderr.Write(out)
		return nil, fmt.Errorf("running %s benchmarks: %w", g.Pkg, err)
	}
	names, values, units := parseBench(strings.NewReader(string(out)))
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no benchmark matched %q", g.Pkg, g.Bench)
	}
	res := make([]result, 0, len(names))
	for _, n := range names {
		r := result{Name: n, Metrics: map[string]float64{}, Units: units[n]}
		for u, vs := range values[n] {
			r.Metrics[u] = median(vs)
		}
		res = append(res, r)
	}
	return res, nil
}

// split returns a benchmark name's group (all but the last element) and
// member (the last element); a name without sub-benchmarks is its own group.
func split(name string) (grp, member string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:]
}

var standardUnits = map[string]bool{"ns/op": true, "MB/s": true, "B/op": true, "allocs/op": true}

// writeGroup writes g's results as a Markdown table: median ns/op, MB/s and
// allocs/op, the time ratio to the baseline member of the same group, and any
// custom metrics the benchmark reported (interleaved benchmarks report their
// own ratios that way).
func writeGroup(w io.Writer, g group, rounds int, res []result) {
	fmt.Fprintf(w, "### %s\n\n", g.Title)
	base := map[string]float64{}
	for _, r := range res {
		if grp, m := split(r.Name); g.Baseline != "" && m == g.Baseline {
			base[grp] = r.Metrics["ns/op"]
		}
	}
	ratioHead := ""
	if g.Baseline != "" {
		ratioHead = fmt.Sprintf(" time ÷ %s |", g.Baseline)
	}
	fmt.Fprintf(w, "| benchmark | ns/op | MB/s | allocs/op |%s other metrics |\n", ratioHead)
	fmt.Fprintf(w, "|---|---:|---:|---:|%s---|\n", strings.Repeat("---:|", btoi(g.Baseline != "")))
	for _, r := range res {
		grp, _ := split(r.Name)
		row := fmt.Sprintf("| `%s` | %s | %s | %s |", strings.TrimPrefix(r.Name, "Benchmark"),
			num(r.Metrics, "ns/op", "%.0f"), num(r.Metrics, "MB/s", "%.0f"), num(r.Metrics, "allocs/op", "%.0f"))
		if g.Baseline != "" {
			if b := base[grp]; b > 0 && r.Metrics["ns/op"] > 0 {
				row += fmt.Sprintf(" %.2f |", r.Metrics["ns/op"]/b)
			} else {
				row += " |"
			}
		}
		var other []string
		for _, u := range r.Units {
			if !standardUnits[u] {
				other = append(other, fmt.Sprintf("%s %s", trimFloat(r.Metrics[u]), u))
			}
		}
		fmt.Fprintf(w, "%s %s |\n", row, strings.Join(other, ", "))
	}
	fmt.Fprintf(w, "\nMedians of %d rounds of `go test -bench '%s'` in `%s`", rounds, g.Bench, g.Pkg)
	if g.Benchtime != "" {
		fmt.Fprintf(w, " (benchtime %s)", g.Benchtime)
	}
	fmt.Fprintf(w, ". %s\n\n", g.Note)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func num(m map[string]float64, unit, format string) string {
	v, ok := m[unit]
	if !ok {
		return ""
	}
	return fmt.Sprintf(format, v)
}

func trimFloat(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
