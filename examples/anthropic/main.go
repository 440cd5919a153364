// Command anthropic plugs llmhttp into the official Anthropic Go SDK
// (github.com/anthropics/anthropic-sdk-go) through option.WithHTTPClient,
// and runs a non-streaming and a streaming message against llmhttp's
// embedded test server while it injects faults: an overloaded 529 with
// retry-after-ms, a 503, a stream that stalls before
// its first token, and one cut right after its headers. Both calls succeed.
//
//	go run ./examples/anthropic
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

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
		fmt.Fprintln(os.Stderr, "anthropic:", err)
		os.Exit(1)
	}
	fmt.Printf("the server saw %d requests for 2 calls\n", srv.Stats().Requests)
}

// Faults is the test server's script, two faults for each call.
func Faults() []testserver.Fault {
	return []testserver.Fault{
		{Status: 529, Header: map[string]string{"retry-after-ms": "50"}},
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

	client := anthropic.NewClient(
		option.WithBaseURL(baseURL),
		option.WithAPIKey("sk-ant-example-not-a-real-key"),
		option.WithHTTPClient(hc.Client),
		option.WithMaxRetries(0), // llmhttp retries; stacked layers multiply attempts
	)
	params := anthropic.MessageNewParams{
		Model:     anthropic.ModelClaudeSonnet5_5,
		MaxTokens: 8,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello."))},
	}
	msg, err := client.Messages.New(ctx, params)
	if err != nil {
		return fmt.Errorf("message: %w", err)
	}
	fmt.Fprint(out, "non-streaming: ")
	for _, b := range msg.Content {
		fmt.Fprint(out, b.Text)
	}
	fmt.Fprintln(out)

	params.MaxTokens = 12
	stream := client.Messages.NewStreaming(ctx, params)
	defer stream.Close()
	fmt.Fprint(out, "streaming: ")
	for stream.Next() {
		if ev, ok := stream.Current().AsAny().(anthropic.ContentBlockDeltaEvent); ok {
			fmt.Fprint(out, ev.Delta.Text)
		}
	}
	fmt.Fprintln(out)
	if err := stream.Err(); err != nil {
		return fmt.Errorf("message stream: %w", err)
	}
	return nil
}
