// Command quickstart shows what llmhttp changes. It starts llmhttp's
// embedded fake OpenAI server with a realistic mix of faults (429s with
// retry-after-ms, 503s, streams that stall before their first token or in
// the middle, connections cut after the headers), runs the same batch of
// concurrent streaming chat completions through a plain http.Client and
// through llmhttp.NewClient, and prints the two side by side.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -calls 400 -concurrency 100
//
// With -base-url and -api-key (or OPENAI_BASE_URL and OPENAI_API_KEY) it runs
// the same batch, without injected faults, against a real OpenAI-compatible
// endpoint instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	var o options
	flag.IntVar(&o.calls, "calls", 200, "streaming calls per client")
	flag.IntVar(&o.concurrency, "concurrency", 50, "calls in flight at once")
	flag.IntVar(&o.tokens, "tokens", 20, "tokens per answer (max_tokens)")
	flag.Float64Var(&o.tps, "tps", 50, "tokens per second the test server streams")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the test server's fault mix")
	flag.StringVar(&o.baseURL, "base-url", os.Getenv("OPENAI_BASE_URL"), "a real OpenAI-compatible base URL (ending in /v1); empty: the embedded test server")
	flag.StringVar(&o.apiKey, "api-key", os.Getenv("OPENAI_API_KEY"), "API key for -base-url")
	flag.StringVar(&o.model, "model", "gpt-4o-mini", "model for -base-url")
	flag.DurationVar(&o.plainTimeout, "plain-timeout", 8*time.Second, "http.Client.Timeout of the plain client")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, os.Stderr, o); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

type options struct {
	calls, concurrency, tokens int
	tps                        float64
	seed                       int64
	baseURL, apiKey, model     string
	plainTimeout               time.Duration
}

func run(ctx context.Context, out, progress io.Writer, o options) error {
	if o.calls < 1 || o.concurrency < 1 || o.tokens < 1 {
		return fmt.Errorf("-calls, -concurrency and -tokens must be positive")
	}
	var plain, llm result
	var err error
	if o.baseURL == "" {
		fmt.Fprintf(out, "llmhttp quickstart: %d streaming calls, %d at once, against the embedded test server\n", o.calls, o.concurrency)
		fmt.Fprintf(out, "fault mix: %s\n\n", faultMixDoc)
		plain, llm, err = runLocal(ctx, progress, o)
	} else {
		fmt.Fprintf(out, "llmhttp quickstart: %d streaming calls, %d at once, against %s\n\n", o.calls, o.concurrency, o.baseURL)
		plain, llm, err = runRemote(ctx, progress, o)
	}
	if err != nil {
		return err
	}
	printTable(out, o.calls, plain, llm)
	return nil
}

// newPlainClient is what many programs use: net/http with a timeout.
func newPlainClient(timeout time.Duration) (*http.Client, func()) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: tr, Timeout: timeout}, tr.CloseIdleConnections
}
