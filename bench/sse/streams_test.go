package sse

import (
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/sse"
)

// streamCount is how many concurrent streams TestManyStreams opens: the
// SSE_STREAMS environment variable, or a small number so CI stays quick.
func streamCount(t *testing.T) int {
	if s := os.Getenv("SSE_STREAMS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return 200
}

type usage struct {
	heapPerStream, stackPerStream float64 // bytes
	goroutinesPerStream           float64
	cpu                           time.Duration // process CPU over the window
	events                        int64
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestManyStreams opens n paced chat streams on loopback (h2c), first over
// the bare transport and then through the watchdog, and compares the memory,
// goroutines and CPU they cost while they stream. The server runs in the same
// process, so absolute figures include it; the difference is the watchdog's.
func TestManyStreams(t *testing.T) {
	n := streamCount(t)
	const window = 3 * time.Second
	srv := testserver.New(t, testserver.Config{Protocol: testserver.H2C, TokensPerSecond: 4})

	run := func(t *testing.T, mws ...roundtripper.Middleware) usage {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		tr := srv.Transport()
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: roundtripper.Chain(tr, mws...)}

		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		baseG := runtime.NumGoroutine()

		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			bodies []io.Closer
			events int64
			opened = make(chan error, n)
			stop   = make(chan struct{})
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v1/chat/completions",
					strings.NewReader(`{"model":"m","stream":true,"max_tokens":100000,"messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					opened <- err
					return
				}
				resp, err := c.Do(req)
				if err != nil {
					opened <- err
					return
				}
				mu.Lock()
				bodies = append(bodies, resp.Body)
				mu.Unlock()
				r := sse.NewReader(resp.Body)
				_, err = r.Next()
				opened <- err
				var local int64
				for {
					if _, err := r.Next(); err != nil {
						break
					}
					select {
					case <-stop:
					default:
						local++
					}
				}
				mu.Lock()
				events += local
				mu.Unlock()
			}()
		}
		for range n {
			require.NoError(t, <-opened)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g := runtime.NumGoroutine()
		c0 := cpuTime()
		timer := time.NewTimer(window)
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		cpu := cpuTime() - c0
		close(stop)
		mu.Lock()
		for _, b := range bodies {
			_ = b.Close()
		}
		mu.Unlock()
		wg.Wait()
		return usage{
			heapPerStream:       (float64(ms.HeapAlloc) - float64(base.HeapAlloc)) / float64(n),
			stackPerStream:      (float64(ms.StackInuse) - float64(base.StackInuse)) / float64(n),
			goroutinesPerStream: float64(g-baseG) / float64(n),
			cpu:                 cpu,
			events:              events,
		}
	}

	wd := sse.Watchdog(sse.WatchdogConfig{FirstTokenTimeout: 30 * time.Second, TokenIntervalTimeout: 30 * time.Second})
	// A first round warms up both sides (server pools, connections); the
	// second is the one reported.
	_, _ = run(t), run(t, wd)
	bare := run(t)
	watched := run(t, wd)
	t.Logf("%d concurrent streams on loopback (h2c), 4 tokens/s each, %v window; client and server in one process", n, window)
	t.Logf("%-8s %14s %14s %12s %10s %8s", "", "heap/stream", "stack/stream", "goroutines", "cpu", "events")
	for _, r := range []struct {
		name string
		u    usage
	}{{"bare", bare}, {"watched", watched}} {
		t.Logf("%-8s %13.0fB %13.0fB %12.2f %10v %8d", r.name, r.u.heapPerStream, r.u.stackPerStream, r.u.goroutinesPerStream, r.u.cpu.Round(time.Millisecond), r.u.events)
	}
	t.Logf("watchdog: %+.0f B heap, %+.2f goroutines per stream; CPU ratio watched/bare %.2f",
		watched.heapPerStream-bare.heapPerStream, watched.goroutinesPerStream-bare.goroutinesPerStream,
		float64(watched.cpu)/float64(bare.cpu))
	require.InDelta(t, bare.goroutinesPerStream, watched.goroutinesPerStream, 0.05, "no goroutine per watched stream")
}
