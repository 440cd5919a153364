package faultmatrix

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

// Report is the result of Run.
type Report struct {
	Started      time.Time
	Duration     time.Duration
	CallsPerCell int
	ConnLimit    int           // MaxConnsPerHost of every client
	Results      []*CellResult // one per cell and client, in Cells() order

	global []string // violations of the run as a whole
}

// CellResult is what one client did in one cell.
type CellResult struct {
	Cell     Cell
	Client   Client
	Calls    int
	Outcomes map[string]int // "ok", "status 429", an error kind (see classify), "hung", "incomplete body"
	Slowest  time.Duration  // the longest call

	Attempts       int // attempts the client made (seen below llmhttp's retry layer)
	ServerRequests int // requests the server received
	Repeats        int // receptions beyond one per call, all excused
	ConnsOpened    int // TCP connections the client dialed
	PeakConns      int // most sockets open at once (dialed and not yet closed)
	PeakInUse      int // most connections in use by requests at once (streams over HTTP/2)
	ConnLimit      int // the client's MaxConnsPerHost
	GoroutinesLeft int // goroutines of the client still running after it was closed

	Violations []string // broken invariants, each saying which and by how much
	Untyped    []string // the text of untyped errors, for the report

	leftStacks []string
}

// OK is the number of calls that got their whole answer.
func (c *CellResult) OK() int { return c.Outcomes[outcomeOK] }

// check fills res with the invariants' verdicts.
func (r *cellRun) check(res *CellResult, calls []call, reqs []testserver.Request) {
	v := func(format string, args ...any) {
		res.Violations = append(res.Violations, fmt.Sprintf("%s [%s]: ", res.Cell.Name, res.Client)+fmt.Sprintf(format, args...))
	}
	hung := 0
	for _, c := range calls {
		res.Outcomes[c.outcome]++
		res.Slowest = max(res.Slowest, c.took)
		if c.outcome == "hung" {
			hung++
		}
		if c.err != nil && !c.typed {
			res.Untyped = append(res.Untyped, c.err.Error())
		}
	}
	if hung > 0 {
		v("%d of %d calls hung: the slowest took %v, budget %v + margin %v", hung, len(calls), res.Slowest.Round(time.Millisecond), Budget, Margin)
	}
	if len(res.Untyped) > 0 {
		v("%d calls ended with an untyped error, e.g. %q", len(res.Untyped), res.Untyped[0])
	}
	if res.GoroutinesLeft > 0 {
		v("%d goroutines of the client still running after Close:\n%s", res.GoroutinesLeft, strings.Join(res.leftStacks, "\n\n"))
	}

	counts := serverCounts(reqs)
	r.rec.mu.Lock()
	for n := range calls {
		res.Attempts += r.rec.attempts[n]
		got := counts[n]
		res.ServerRequests += got
		if got <= 1 {
			continue
		}
		if allowed := 1 + r.rec.excused[n]; got > allowed {
			v("call %d reached the server %d times, %d allowed (POST without idempotency key after an ambiguous failure)", n, got, allowed)
		} else {
			res.Repeats += got - 1
		}
	}
	r.rec.mu.Unlock()

	r.conns.mu.Lock()
	res.ConnsOpened, res.PeakConns = r.conns.opened, r.conns.peak
	r.conns.mu.Unlock()
	r.use.mu.Lock()
	res.PeakInUse = r.use.peak
	r.use.mu.Unlock()
	limit := res.ConnLimit
	if res.Cell.Proto == H2C {
		limit++ // Go's HTTP/2 client may dial a spare connection
	}
	if res.PeakConns > limit {
		v("%d connections open at once, limit %d", res.PeakConns, limit)
	}
	// PeakInUse is reported, not held to the limit: measured from outside
	// the transport it runs one over at a hand-over (the transport frees a
	// request's slot inside the body's final Read, before this counter
	// sees the end), seen once in a quick run (3 against 2, h2c).
	// Each attempt may need a connection of its own; over HTTP/2 Go's
	// client also re-sends, on a new connection and unseen by the layers
	// above, a request that a GOAWAY refused before it started.
	perAttempt := 1
	if res.Cell.Proto == H2C {
		perAttempt = 2
	}
	if res.ConnsOpened > perAttempt*res.Attempts+limit {
		v("%d connections opened for %d attempts (limit %d): churn", res.ConnsOpened, res.Attempts, limit)
	}
	if where := r.secretIn(calls); len(where) > 0 {
		v("the API key appears in %s", strings.Join(where, ", "))
	}
}

// Violations returns every broken invariant of the llmhttp client, and of
// the run as a whole; net/http's are in its CellResults and the Markdown
// table, since the point is to show them.
func (rep *Report) Violations() []string {
	out := append([]string(nil), rep.global...)
	for _, r := range rep.Results {
		if r.Client == LLMHTTP {
			out = append(out, r.Violations...)
		}
	}
	return out
}

// Markdown writes the matrix as Markdown: a table of cell × outcome counts
// for llmhttp beside net/http, with connections per call and the invariants'
// status, then the rules and the violations.
func (rep *Report) Markdown(w io.Writer) error {
	byCell := map[string]map[Client]*CellResult{}
	var order []Cell
	for _, r := range rep.Results {
		if byCell[r.Cell.Name] == nil {
			byCell[r.Cell.Name] = map[Client]*CellResult{}
			order = append(order, r.Cell)
		}
		byCell[r.Cell.Name][r.Client] = r
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Fault matrix: %d cells, %d concurrent calls per cell and client, MaxConnsPerHost %d, through toxiproxy on loopback; "+
		"%s, %d CPUs, %s, run took %v.\n\n", len(order), rep.CallsPerCell, rep.ConnLimit,
		runtime.Version(), runtime.NumCPU(), rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Duration.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "Timeouts of both clients: response headers %v, whole call %v (llmhttp Timeouts.Total/TotalStream; net/http "+
		"Client.Timeout, or a context deadline for streams). llmhttp only: first token %v, token interval %v, retries (3, base 100ms). "+
		"A call counts as hung past %v.\n\n", ResponseHeader, Budget, FirstToken, TokenInterval, Budget+Margin)
	b.WriteString("| cell | injected | llmhttp | net/http | conns/call llmhttp · net/http | slowest llmhttp · net/http | llmhttp invariants |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, c := range order {
		l, n := byCell[c.Name][LLMHTTP], byCell[c.Name][NetHTTP]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s · %s | %s · %s | %s |\n", c.Name, c.Injected,
			outcomes(l), outcomes(n), perCall(l), perCall(n), slowest(l), slowest(n), invariants(l))
	}
	b.WriteString("\nOutcomes: ok = the whole answer; \"status N\" = the final response had that status; " +
		"\"incomplete body\" = a clean end without the whole answer (a silent wrong result); other names are error kinds, " +
		"matched with errors.Is/As (first-token timeout, stream cut, ... are llmhttp's; deadline, conn reset, EOF, timeout are the standard library's); " +
		"\"untyped\" matched nothing. Repeats (r) count bodies the server received twice for one call after an excused attempt " +
		"(a 429/5xx answer, or a stream replayed before its first token).\n")
	viol := rep.Violations()
	var netViol []string
	for _, r := range rep.Results {
		if r.Client != LLMHTTP {
			netViol = append(netViol, r.Violations...)
		}
	}
	fmt.Fprintf(&b, "\nllmhttp invariant violations: %d.\n", len(viol))
	for _, s := range viol {
		fmt.Fprintf(&b, "- %s\n", brief(s))
	}
	if len(netViol) > 0 {
		fmt.Fprintf(&b, "\nnet/http broke %d of the same checks (recorded, not asserted):\n", len(netViol))
		for _, s := range netViol {
			fmt.Fprintf(&b, "- %s\n", brief(s))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func outcomes(r *CellResult) string {
	if r == nil {
		return "–"
	}
	var parts []string
	for _, k := range sortedKeys(r.Outcomes) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Outcomes[k]))
	}
	s := strings.Join(parts, ", ")
	if r.Repeats > 0 {
		s += fmt.Sprintf(" (r %d)", r.Repeats)
	}
	return s
}

func perCall(r *CellResult) string {
	if r == nil || r.Calls == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(r.ConnsOpened)/float64(r.Calls))
}

func slowest(r *CellResult) string {
	if r == nil {
		return "–"
	}
	return r.Slowest.Round(100 * time.Millisecond).String()
}

func invariants(r *CellResult) string {
	if r == nil {
		return "–"
	}
	if len(r.Violations) == 0 {
		return fmt.Sprintf("pass (peak %d in use, %d open)", r.PeakInUse, r.PeakConns)
	}
	return fmt.Sprintf("**%d broken**", len(r.Violations))
}

// brief shortens a violation for the table's page: its first line, and for
// goroutines left the function each was started with.
func brief(v string) string {
	first, stacks, ok := strings.Cut(v, "\n")
	if !ok {
		return v
	}
	var tops []string
	for block := range strings.SplitSeq(stacks, "\n\n") {
		top := ""
		for line := range strings.SplitSeq(block, "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "#" {
				top = f[2] // the last frame is the goroutine's own function
			}
		}
		if top != "" {
			tops = append(tops, top)
		}
	}
	return strings.TrimSuffix(first, ":") + " (" + strings.Join(tops, ", ") + ")"
}
