package faultmatrix

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Client names a client the matrix runs against.
type Client string

// The clients of the matrix.
const (
	// LLMHTTP is llmhttp.NewClient with the timeouts below, observe
	// logging to a buffer and Prometheus metrics on a fresh registry.
	LLMHTTP Client = "llmhttp"
	// NetHTTP is a plain http.Client over a clone of http.DefaultTransport
	// with the same timeouts where net/http can express them.
	NetHTTP Client = "net/http"
)

// The timeouts both clients get, short enough for a test, in the order of
// llmhttp's defaults (first token before response headers) and long enough
// that healthy calls through the proxy meet them on a loaded 2-core machine
// under the race detector.
const (
	// FirstToken is llmhttp's Timeouts.FirstToken; net/http has no such
	// timeout.
	FirstToken = 2 * time.Second
	// TokenInterval is llmhttp's Timeouts.TokenInterval; net/http has no
	// such timeout.
	TokenInterval = 1500 * time.Millisecond
	// ResponseHeader is llmhttp's Timeouts.Response and net/http's
	// Transport.ResponseHeaderTimeout.
	ResponseHeader = 3 * time.Second
	// Budget bounds a whole call: llmhttp's Timeouts.Total and TotalStream;
	// net/http's Client.Timeout for a non-streaming call and, for a stream
	// (which Client.Timeout would cut in the middle), a context deadline,
	// as a user would set one.
	Budget = 6 * time.Second
	// Margin is how late past Budget a call may end before it counts as
	// hung. It is generous: the machine has 2 shared cores and tests run
	// with the race detector.
	Margin = 2 * time.Second
	// guard is the context deadline every call gets on top, so that even a
	// hung call ends and is counted.
	guard = Budget + 4*time.Second
)

// Options configure Run.
type Options struct {
	// CallsPerCell is the number of concurrent calls in each cell; zero
	// means 3 (quick mode).
	CallsPerCell int

	// Cells selects the cells to run; nil means all of Cells().
	Cells func(Cell) bool

	// Clients are the clients to run each cell against; nil means LLMHTTP
	// and NetHTTP.
	Clients []Client

	// Parallel is the number of cells run at once, over both clients; zero
	// means 12. The cells mostly wait on timers, so this is more than the
	// cores, but not so many that the proxy's goroutines (a few per chunk
	// of data) slow healthy calls past their timeouts on 2 cores under the
	// race detector.
	Parallel int

	// Progress, if not nil, is called after each cell with its result,
	// from several goroutines at once.
	Progress func(*CellResult)
}

func (o *Options) calls() int {
	if o.CallsPerCell <= 0 {
		return 3
	}
	return o.CallsPerCell
}

func (o *Options) parallel() int {
	if o.Parallel <= 0 {
		return 12
	}
	return o.Parallel
}

func (o *Options) clients() []Client {
	if len(o.Clients) == 0 {
		return []Client{LLMHTTP, NetHTTP}
	}
	return o.Clients
}

// connLimit is MaxConnsPerHost for a cell of n calls: below n, so that the
// pool limit is reached in every cell.
func connLimit(n int) int { return max(2, n*2/5) }

// Run runs the matrix and checks its invariants. It returns an error only
// when the matrix could not be set up (a listener, a toxic); invariant
// violations are in the Report. It is bounded: a call ends within Budget
// plus 4s whatever the client does, a cell within that plus about 10s of
// checks. Quick mode (3 calls) takes about 25s on 2 cores under the race
// detector, full mode (20 calls) about 30s without it.
//
// Besides the per-cell checks, Run compares the process's goroutines
// (toxiproxy's aside) before and after: run it alone in its process, or
// expect that check to count other work.
func Run(ctx context.Context, opt Options) (*Report, error) {
	rep := &Report{Started: time.Now(), CallsPerCell: opt.calls(), ConnLimit: connLimit(opt.calls())}
	baseline := ownGoroutines()

	secret := make([]byte, 12)
	_, _ = rand.Read(secret)
	key := keyPrefix + hex.EncodeToString(secret)

	// One toxiproxy server holds the proxies; its own HTTP API is never
	// started, and its logs go nowhere.
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())

	var cells []Cell
	for _, c := range Cells() {
		if opt.Cells == nil || opt.Cells(c) {
			cells = append(cells, c)
		}
	}
	type job struct {
		cell   Cell
		client Client
	}
	var jobs []job
	for _, c := range cells {
		for _, cl := range opt.clients() {
			jobs = append(jobs, job{c, cl})
		}
	}

	results := make([]*CellResult, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, opt.parallel())
	var wg sync.WaitGroup
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := &cellRun{cell: j.cell, client: j.client, calls: opt.calls(), key: key, id: fmt.Sprintf("cell%d", i), api: api}
			results[i], errs[i] = r.run(ctx)
			if results[i] != nil && opt.Progress != nil {
				opt.Progress(results[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	rep.Results = results
	rep.Duration = time.Since(rep.Started)

	// Every server, proxy and client of the run is closed by now.
	left := settle(5*time.Second, func() int { return ownGoroutines() - baseline })
	if left > 0 && os.Getenv("FAULTMATRIX_DEBUG") != "" {
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	}
	if left > 0 {
		rep.global = append(rep.global, fmt.Sprintf("run: %d goroutines more than before Run, 5s after every cell closed", left))
	}
	return rep, nil
}

// ownGoroutines counts the goroutines of the process but toxiproxy's: its
// links leak two goroutines per connection whose toxic closed its end
// early (reset_peer, limit_data), blocked writing into a channel nobody
// reads any more. They are the proxy's, not the clients'.
func ownGoroutines() int {
	n := 0
	for _, block := range goroutineBlocks() {
		var k int
		if _, err := fmt.Sscanf(block, "%d @", &k); err == nil && !strings.Contains(block, toxiproxyPkg) {
			n += k
		}
	}
	return n
}

// goroutineBlocks returns the goroutine profile's groups of goroutines with
// one stack and label set, each starting with "<count> @".
func goroutineBlocks() []string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	_, text, _ := strings.Cut(buf.String(), "\n") // "goroutine profile: total N"
	return strings.Split(text, "\n\n")
}

const toxiproxyPkg = "github.com/Shopify/toxiproxy/"

// settle polls f until it is at most zero or d has passed, and returns its
// last value.
func settle(d time.Duration, f func() int) int {
	deadline := time.Now().Add(d)
	for {
		n := f()
		if n <= 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting for an event
	}
}

// labelled counts the goroutines carrying the pprof label faultmatrix=id,
// which every goroutine started (directly or not) by a cell's client
// inherits from the goroutine that made the client and its calls.
func labelled(id string) (n int, stacks []string) {
	want := fmt.Sprintf("%q:%q", labelKey, id)
	for _, block := range goroutineBlocks() {
		if !strings.Contains(block, want) {
			continue
		}
		var k int
		if _, err := fmt.Sscanf(block, "%d @", &k); err == nil {
			n += k
			stacks = append(stacks, block)
		}
	}
	return n, stacks
}

const labelKey = "faultmatrix"

// keyPrefix starts the fake API key; a random part follows.
const keyPrefix = "sk-matrix-SECRET-"

// outcomeOK is the outcome of a call that got its whole answer.
const outcomeOK = "ok"

// sortedKeys returns m's keys, "ok" first, then by count and name.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		switch {
		case a == outcomeOK:
			return -1
		case b == outcomeOK:
			return 1
		case m[a] != m[b]:
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return keys
}
