// Command openaigo plugs llmhttp into the official OpenAI Go SDK
// (github.com/openai/openai-go) through option.WithHTTPClient, and runs a
// non-streaming and a streaming chat completion against llmhttp's embedded
// test server while it injects faults: a 429 with retry-after-ms, a 503, a
// stream that stalls before its first token, and one
// cut right after its headers. Both calls succeed; the SDK never sees the
// faults.
//
//	go run ./examples/openaigo
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
)

func main() {
	srv, err := testserver.Start(testserver.Config{Script: Faults()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Close()
	if err := run(context.Background(), os.Stdout, srv.URL()); err != nil {
		fmt.Fprintln(os.Stderr, "openaigo:", err)
		os.Exit(1)
	}
	fmt.Printf("the server saw %d requests for 2 calls\n", srv.Stats().Requests)
}

// Faults is the test server's script: the first two requests (the
// non-streaming call) get a 429 and a 503, the third succeeds, and the next
// two (the stream) get a
// stall before the first token and a cut after the headers.
func Faults() []testserver.Fault {
	return []testserver.Fault{
		{Status: http.StatusTooManyRequests, Header: map[string]string{"retry-after-ms": "50"}},
		{Status: http.StatusServiceUnavailable},
		{}, // the non-streaming call's third attempt succeeds
		{FirstTokenDelay: time.Hour},
		{Close: testserver.CloseAfterHeaders, Reset: true},
	}
}

func run(ctx context.Context, out io.Writer, baseURL string) error {
	hc, err := llmhttp.NewClient(llmhttp.Config{
		Timeouts: llmhttp.Timeouts{FirstToken: 500 * time.Millisecond},
		Retry:    retry.Config{BaseDelay: 20 * time.Millisecond},
	})
	if err != nil {
		return err
	}
	defer hc.Close()

	client := openai.NewClient(
		option.WithBaseURL(baseURL+"/v1/"),
		option.WithAPIKey("sk-example-not-a-real-key"),
		option.WithHTTPClient(hc.Client),
		// The SDK retries twice by default, and llmhttp retries too:
		// stacked, 4 attempts become 12. Let one layer decide.
		option.WithMaxRetries(0),
	)

	params := openai.ChatCompletionNewParams{
		Model:     "gpt-4o-mini",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
		MaxTokens: openai.Int(8),
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		return fmt.Errorf("chat completion: %w", err)
	}
	fmt.Fprintf(out, "non-streaming: %s\n", resp.Choices[0].Message.Content)

	params.MaxTokens = openai.Int(12)
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	defer stream.Close()
	fmt.Fprint(out, "streaming: ")
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			fmt.Fprint(out, c.Delta.Content)
		}
	}
	fmt.Fprintln(out)
	if err := stream.Err(); err != nil {
		return fmt.Errorf("chat stream: %w", err)
	}
	return nil
}
