package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
	"github.com/llmhttp/llmhttp/sse"
)

const faultMixDoc = "8% 429 (retry-after-ms), 4% 503, 3% stall before the first token, 3% stall mid-stream, 3% cut after headers"

// faultMix is the test server's script: the same for both clients, drawn
// from seed, three entries per call so that retries meet faults too.
func faultMix(seed int64, n int) []testserver.Fault {
	rnd := rand.New(rand.NewPCG(uint64(seed), 0x11e77))
	script := make([]testserver.Fault, n)
	for i := range script {
		switch p := rnd.Float64(); {
		case p < 0.08:
			script[i] = testserver.Fault{Status: http.StatusTooManyRequests, Header: map[string]string{"retry-after-ms": "300"}}
		case p < 0.12:
			script[i] = testserver.Fault{Status: http.StatusServiceUnavailable}
		case p < 0.15:
			script[i] = testserver.Fault{FirstTokenDelay: time.Hour}
		case p < 0.18:
			script[i] = testserver.Fault{StallAfter: 3}
		case p < 0.21:
			script[i] = testserver.Fault{Close: testserver.CloseAfterHeaders, Reset: true}
		}
	}
	return script
}

func runLocal(ctx context.Context, progress io.Writer, o options) (plain, llm result, err error) {
	script := faultMix(o.seed, 3*o.calls)
	cfg := testserver.Config{Script: script, TokensPerSecond: o.tps}

	// The plain client.
	srvA, err := testserver.Start(cfg)
	if err != nil {
		return plain, llm, err
	}
	defer srvA.Close()
	pc, closeIdle := newPlainClient(o.plainTimeout)
	defer closeIdle()
	plain = runBatch(ctx, progress, "net/http", o.calls, o.concurrency,
		call{client: pc, url: srvA.URL() + "/v1", model: "test", tokens: o.tokens}, nil)
	plain.attempts = srvA.Stats().Requests
	plain.conns = srvA.Stats().ConnsAccepted

	// The llmhttp client.
	srvB, err := testserver.Start(cfg)
	if err != nil {
		return plain, llm, err
	}
	defer srvB.Close()
	var stalls atomic.Int64
	c, err := newLLMClient(&stalls, nil)
	if err != nil {
		return plain, llm, err
	}
	defer c.Close()
	llm = runBatch(ctx, progress, "llmhttp", o.calls, o.concurrency,
		call{client: c.Client, url: srvB.URL() + "/v1", model: "test", tokens: o.tokens}, &stalls)
	llm.attempts = srvB.Stats().Requests
	llm.conns = srvB.Stats().ConnsAccepted
	return plain, llm, nil
}

// newLLMClient is llmhttp's recommended client with short stream timeouts
// (the demo's tokens come every 20ms; real defaults are 15s and 10s), plus
// a middleware that counts the stalls the watchdog cut before a first
// token, and optionally the attempts sent.
func newLLMClient(stalls, attempts *atomic.Int64) (*llmhttp.Client, error) {
	count := func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			if attempts != nil {
				attempts.Add(1)
			}
			resp, err := next.RoundTrip(req)
			if err != nil && roundtripper.Replayable(err) {
				stalls.Add(1)
			}
			return resp, err
		})
	}
	return llmhttp.NewClient(llmhttp.Config{
		Timeouts: llmhttp.Timeouts{FirstToken: time.Second, TokenInterval: time.Second},
		// The demo's fault mix is a storm: one request in five fails. The
		// default retry budget (retries up to 20% of recent calls) would
		// rather let some calls fail than add that much load to a server in
		// trouble; the demo allows 50% so that every call gets through.
		// For the same reason it allows 8 retries instead of 3: a call
		// fails only when every one of its attempts meets a fault, which
		// with 4 attempts happens to 0.21^4 ≈ 0.2% of calls (a failed call
		// in about every other batch of 200, each "retries exhausted" on a
		// last 429 or 503), and with 9 attempts to about one call in a
		// million. Most calls still need no retry at all.
		Retry: retry.Config{
			MaxRetries: 8,
			BaseDelay:  100 * time.Millisecond,
			Budget:     retry.NewBudget(retry.BudgetConfig{Ratio: 0.5}),
		},
		Watchdog: sse.WatchdogConfig{},
		Middleware: []llmhttp.Insert{
			{At: llmhttp.AfterRateLimit, Middleware: count},
		},
	})
}
