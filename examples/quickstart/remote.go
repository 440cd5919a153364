package main

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
)

// runRemote runs the batch against a real endpoint, without injected faults.
func runRemote(ctx context.Context, progress io.Writer, o options) (plain, llm result, err error) {
	base := strings.TrimRight(o.baseURL, "/")
	pc, closeIdle := newPlainClient(o.plainTimeout)
	defer closeIdle()
	var plainAttempts atomic.Int64
	plain = runBatch(ctx, progress, "net/http", o.calls, o.concurrency,
		call{client: pc, url: base, apiKey: o.apiKey, model: o.model, tokens: o.tokens, attempt: func() { plainAttempts.Add(1) }}, nil)
	plain.attempts = plainAttempts.Load()

	var stalls, attempts atomic.Int64
	c, err := newLLMClient(&stalls, &attempts)
	if err != nil {
		return plain, llm, err
	}
	defer c.Close()
	llm = runBatch(ctx, progress, "llmhttp", o.calls, o.concurrency,
		call{client: c.Client, url: base, apiKey: o.apiKey, model: o.model, tokens: o.tokens}, &stalls)
	llm.attempts = attempts.Load()
	return plain, llm, nil
}
