package scale

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/sse"
	"github.com/llmhttp/llmhttp/transport"
)

// ScaleOptions configures RunScale. The zero value is the full run: 10,000
// streams, 1% of them stalled.
type ScaleOptions struct {
	// Streams is how many streaming calls are open at once. Zero means
	// 10,000.
	Streams int

	// StalledFraction is the share of the streams the server stalls (no
	// byte after StallAfter tokens, until the client leaves). Zero means
	// 0.01; negative means none.
	StalledFraction float64

	// TokensPerSecond paces every stream's tokens. Zero means 1: 10,000
	// streams are then 10,000 events a second.
	TokensPerSecond float64

	// TokenIntervalTimeout is the watchdog's limit between tokens. Zero
	// means 5s.
	TokenIntervalTimeout time.Duration

	// StallAfter is how many tokens a stalled stream sends before it
	// stalls. Zero means 2.
	StallAfter int

	// Hold is how long all streams are kept open once the last has opened,
	// besides the time the stalls take to be caught. Zero means 3s.
	Hold time.Duration

	// OpenConcurrency bounds the calls being opened (dialed, sent, waiting
	// for the first token) at once, so that the listener's accept queue
	// does not overflow. Zero means 256.
	OpenConcurrency int

	// Timeout bounds the whole run. Zero means 3 minutes.
	Timeout time.Duration

	// H2C runs the streams over HTTP/2 without TLS (prior knowledge), many
	// on one connection, instead of HTTP/1.1 with one connection each. The
	// server then allows Streams concurrent streams per connection.
	H2C bool

	// Baseline also runs the same streams, without stalls, over a bare
	// http.Transport (no llmhttp), so that the report can show what the
	// stack adds per stream.
	Baseline bool

	// Configure, if set, adjusts the llmhttp.Config RunScale built before
	// the client is made: to measure what one layer costs at this load
	// (DisableJanitor, say) or to try other settings.
	Configure func(*llmhttp.Config)

	// ProfileDir, if set, receives cpu.pprof (the whole run),
	// heap.pprof and goroutine.pprof (taken while every stream is open),
	// mutex.pprof and block.pprof, of the llmhttp run.
	ProfileDir string
}

func (o *ScaleOptions) streams() int { return orInt(o.Streams, 10000) }
func (o *ScaleOptions) stalled() int {
	f := o.StalledFraction
	switch {
	case f < 0:
		return 0
	case f == 0:
		f = 0.01
	}
	return max(1, int(f*float64(o.streams())+0.5))
}
func (o *ScaleOptions) tps() float64 {
	if o.TokensPerSecond > 0 {
		return o.TokensPerSecond
	}
	return 1
}
func (o *ScaleOptions) interval() time.Duration { return orDur(o.TokenIntervalTimeout, 5*time.Second) }
func (o *ScaleOptions) stallAfter() int         { return orInt(o.StallAfter, 2) }
func (o *ScaleOptions) hold() time.Duration     { return orDur(o.Hold, 3*time.Second) }
func (o *ScaleOptions) openConc() int           { return orInt(o.OpenConcurrency, 256) }
func (o *ScaleOptions) timeout() time.Duration  { return orDur(o.Timeout, 3*time.Minute) }

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func orDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// ScaleReport is what RunScale measured.
type ScaleReport struct {
	Date       time.Time
	GoVersion  string
	GOMAXPROCS int
	Streams    int
	Stalled    int // streams the server stalled
	Options    ScaleOptions

	LLMHTTP  StreamRun  // through llmhttp.NewClient
	Baseline *StreamRun // over a bare http.Transport; nil unless asked for

	// Lateness is, for each stalled stream the watchdog caught, how long
	// after its deadline (last token + TokenIntervalTimeout) the caller's
	// Read returned the error: the watchdog's delay plus the scheduling
	// delay of a loaded process.
	Lateness     []time.Duration
	LatenessDist Dist
	Detected     int // stalled streams caught with ErrTokenIntervalTimeout
	// MinOpenAtDetection is the fewest streams open when a stall was
	// caught: how much load the watchdog was under.
	MinOpenAtDetection int
	FalseStalls        int // healthy streams cut as stalled (must be 0)
}

// StreamRun holds the figures of one set of concurrent streams.
type StreamRun struct {
	Name string
	// OpenTime is from the first call to the first token of the last.
	OpenTime time.Duration
	// Measured while every stream is open, after a GC, as the difference
	// from before the first call, divided by Streams.
	HeapPerStream       float64 // bytes of live heap (HeapAlloc)
	HeapInusePerStream  float64 // bytes of heap spans in use (HeapInuse)
	StackPerStream      float64 // bytes of goroutine stacks
	GoroutinesPerStream float64
	// HoldCPU is the process's CPU time (user+sys) over HoldWall, a
	// window in which every healthy stream is open and streaming.
	HoldCPU, HoldWall time.Duration
	Events            int64 // token events read over the hold window
	// CloseTime is from cancelling every stream to the end of the last
	// stream's goroutine.
	CloseTime time.Duration
	// Wall and CPU cover the whole run of this client: opening, holding,
	// closing. ServerCPU is the server process's CPU over the same run.
	Wall, CPU, ServerCPU time.Duration
	ConnsAccepted        int64 // by the server, over the run
	Errors               map[string]int
}

// streamBody asks for a chat stream of n tokens.
func streamBody(n int) string {
	return fmt.Sprintf(`{"model":"gpt-4o-mini","stream":true,"max_tokens":%d,"messages":[{"role":"user","content":"Say something long."}]}`, n)
}

// isToken reports whether a chat chunk carries content.
func isToken(data []byte) bool { return bytes.Contains(data, []byte(`{"content":"`)) }

// RunScale opens opt.Streams concurrent streaming calls on loopback through
// llmhttp.NewClient, against the fake server in a child process (see
// ServeChild), over HTTP/1.1 (one connection per stream) or, with opt.H2C,
// over HTTP/2 without TLS. It measures memory
// and goroutines per stream while all are open, CPU and wall time, and how
// late the stream watchdog catches the stalled ones. Stalled streams are
// opened last, so that every stall is caught while all the others are
// open. The run is bounded by opt.Timeout and ends by itself.
func RunScale(ctx context.Context, opt ScaleOptions) (*ScaleReport, error) {
	ctx, cancel := context.WithTimeout(ctx, opt.timeout())
	defer cancel()
	n := opt.streams()
	k := min(opt.stalled(), n)
	proto := testserver.HTTP1
	if opt.H2C {
		proto = testserver.H2C
	}
	srv, err := startChild(ctx, testserver.Config{
		Protocol:                 proto,
		TokensPerSecond:          opt.tps(),
		NominalRequestsPerMinute: 100 * n,
		NominalTokensPerMinute:   1 << 40,
		MaxConcurrentStreams:     n,
	})
	if err != nil {
		return nil, err
	}
	defer srv.close()
	rep := &ScaleReport{
		Date: time.Now().UTC(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Streams: n, Stalled: k, Options: opt,
	}
	base := "http://" + srv.addr

	if opt.Baseline {
		tr := &http.Transport{MaxIdleConnsPerHost: n, Proxy: nil, Protocols: new(http.Protocols)}
		if opt.H2C {
			tr.Protocols.SetUnencryptedHTTP2(true)
		} else {
			tr.Protocols.SetHTTP1(true)
		}
		r, err := runStreams(ctx, srv, base, &http.Client{Transport: tr}, "net/http Transport", n, 0, &opt, nil, "")
		tr.CloseIdleConnections()
		if err != nil {
			return nil, err
		}
		rep.Baseline = &r.StreamRun
	}

	// A stream pool as a user would size it for n streams to one host; the
	// rest of the stack is NewClient's defaults.
	st := transport.Streaming
	st.MaxConns, st.MaxConnsPerHost = n+n/10, n+n/10
	st.H2C = opt.H2C
	cfg := llmhttp.Config{
		StreamTransport: &st,
		Timeouts: llmhttp.Timeouts{
			FirstToken:    max(30*time.Second, opt.interval()),
			TokenInterval: opt.interval(),
			PoolAcquire:   time.Minute,
		},
	}
	if opt.Configure != nil {
		opt.Configure(&cfg)
	}
	c, err := llmhttp.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r, err := runStreams(ctx, srv, base, c.Client, "llmhttp.NewClient", n, k, &opt, rep, opt.ProfileDir)
	if err != nil {
		return nil, err
	}
	rep.LLMHTTP = r.StreamRun
	rep.LatenessDist = distOf(rep.Lateness)
	return rep, nil
}

type runResult struct {
	StreamRun
}

// streamState is what one stream's goroutine reports.
type streamState struct {
	stalled  bool
	err      error
	lastTok  time.Time
	errAt    time.Time
	openAtEr int64
}

// runStreams opens n streams (the last k stalled), measures, holds them
// open until the stalls are caught and opt.Hold has passed, then ends them.
func runStreams(ctx context.Context, srv *child, base string, c *http.Client, name string, n, k int, opt *ScaleOptions, rep *ScaleReport, profDir string) (runResult, error) {
	res := runResult{StreamRun{Name: name, Errors: map[string]int{}}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tps := opt.tps()
	// Each stream must outlast the run; the server caps a completion.
	tokens := min(int(opt.timeout().Seconds()*tps)+16, 1<<16)
	body := streamBody(tokens)
	stallAfter := opt.stallAfter()
	fault := fmt.Sprintf(`{"StallAfter":%d}`, stallAfter)

	if profDir != "" {
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			return res, err
		}
		f, err := os.Create(filepath.Join(profDir, "cpu.pprof"))
		if err != nil {
			return res, err
		}
		defer f.Close()
		runtime.SetMutexProfileFraction(10)
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		defer runtime.SetMutexProfileFraction(0)
		defer runtime.SetBlockProfileRate(0)
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}

	s0, err := srv.stats(ctx)
	if err != nil {
		return res, err
	}
	g0 := settledGoroutines(ctx)
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0, wall0 := cpuTime(), time.Now()

	var (
		wg       sync.WaitGroup
		open     atomic.Int64 // streams whose first token came and that have not ended
		events   atomic.Int64
		opened   = make(chan error, n)
		states   = make([]streamState, n)
		detected = make(chan struct{}, n)
		sem      = make(chan struct{}, opt.openConc())
	)
	for i := range n {
		states[i].stalled = i >= n-k
		wg.Add(1)
		go func(st *streamState) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				opened <- ctx.Err()
				return
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
			if err != nil {
				<-sem
				opened <- err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			if st.stalled {
				req.Header.Set(testserver.FaultHeader, fault)
			}
			resp, err := c.Do(req)
			<-sem
			if err != nil {
				st.err = err
				opened <- err
				return
			}
			defer resp.Body.Close()
			open.Add(1)
			opened <- nil
			r := sse.NewReader(resp.Body)
			for {
				ev, err := r.Next()
				if err != nil {
					st.err, st.errAt = err, time.Now()
					st.openAtEr = open.Add(-1) + 1
					if errors.Is(err, sse.ErrTokenIntervalTimeout) {
						detected <- struct{}{}
					}
					return
				}
				if isToken(ev.Data) {
					st.lastTok = time.Now()
					events.Add(1)
				}
			}
		}(&states[i])
	}
	end := func() {
		cancel()
		wg.Wait()
	}

	// Every stream opens (or fails).
	var openErrs int
	for range n {
		if err := <-opened; err != nil {
			openErrs++
		}
	}
	res.OpenTime = time.Since(wall0)
	if ctx.Err() != nil {
		end()
		return res, fmt.Errorf("scale: %s: %d of %d streams open when the run's time ran out", name, n-openErrs, n)
	}

	// All open: memory and goroutines now, before any stall is cut (the
	// first can come StallAfter tokens after the last stream opened).
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	g1 := runtime.NumGoroutine()
	res.HeapPerStream = (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / float64(n)
	res.HeapInusePerStream = (float64(m1.HeapInuse) - float64(m0.HeapInuse)) / float64(n)
	res.StackPerStream = (float64(m1.StackInuse) - float64(m0.StackInuse)) / float64(n)
	res.GoroutinesPerStream = float64(g1-g0) / float64(n)
	if profDir != "" {
		for _, p := range []string{"heap", "goroutine"} {
			if err := writeProfile(profDir, p); err != nil {
				end()
				return res, err
			}
		}
	}

	// Hold: every stall caught and opt.Hold passed, within a bound of the
	// stalls' own timing plus a generous margin.
	holdStart, cpuH, ev0 := time.Now(), cpuTime(), events.Load()
	minHold := time.NewTimer(opt.hold())
	limit := time.NewTimer(time.Duration(float64(stallAfter)/tps*float64(time.Second)) + opt.interval() + opt.hold() + 30*time.Second)
	defer minHold.Stop()
	defer limit.Stop()
	caught, held := 0, false
	for (caught < k || !held) && ctx.Err() == nil {
		select {
		case <-detected:
			caught++
		case <-minHold.C:
			held = true
		case <-limit.C:
			held, caught = true, k
		case <-ctx.Done():
		}
	}
	res.HoldWall, res.HoldCPU, res.Events = time.Since(holdStart), cpuTime()-cpuH, events.Load()-ev0
	closeStart := time.Now()
	end()
	res.CloseTime = time.Since(closeStart)
	res.Wall, res.CPU = time.Since(wall0), cpuTime()-cpu0
	if profDir != "" {
		for _, p := range []string{"mutex", "block"} {
			if err := writeProfile(profDir, p); err != nil {
				return res, err
			}
		}
	}
	c.CloseIdleConnections()
	s1, err := srv.stats(context.WithoutCancel(ctx))
	if err != nil {
		return res, err
	}
	res.ConnsAccepted = s1.ConnsAccepted - s0.ConnsAccepted
	res.ServerCPU = s1.CPU - s0.CPU

	for i := range states {
		st := &states[i]
		switch {
		case st.stalled && errors.Is(st.err, sse.ErrTokenIntervalTimeout):
			if rep != nil {
				rep.Detected++
				rep.Lateness = append(rep.Lateness, st.errAt.Sub(st.lastTok)-opt.interval())
				if rep.MinOpenAtDetection == 0 || int(st.openAtEr) < rep.MinOpenAtDetection {
					rep.MinOpenAtDetection = int(st.openAtEr)
				}
			}
		case errors.Is(st.err, sse.ErrTokenIntervalTimeout):
			res.Errors["healthy stream cut as stalled"]++
			if rep != nil {
				rep.FalseStalls++
			}
		case st.err == nil, errors.Is(st.err, context.Canceled):
			// Ended by the run.
		case st.stalled:
			res.Errors["stalled stream not caught: "+errText(st.err)]++
		default:
			res.Errors[errText(st.err)]++
		}
	}
	return res, nil
}

// settledGoroutines returns the goroutine count once it has stopped
// falling (the connections of an earlier run take a moment to wind down),
// or after 5s.
func settledGoroutines(ctx context.Context) int {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Second)
	g := runtime.NumGoroutine()
	for time.Now().Before(deadline) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return g
		}
		next := runtime.NumGoroutine()
		if next >= g {
			return next
		}
		g = next
	}
	return g
}

// errText shortens an error for the report's table of error kinds: its
// text without addresses and numbers that differ per call.
func errText(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func writeProfile(dir, name string) error {
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup(name).WriteTo(f, 0)
}
