// Command goopenai plugs llmhttp into github.com/sashabaranov/go-openai
// through ClientConfig.HTTPClient, and runs a non-streaming and a streaming
// chat completion against llmhttp's embedded test server while it injects
// faults: a 429 with retry-after-ms, a 503, a stream
// that stalls before its first token, and one cut right after its headers.
// go-openai has no retries of its own, so llmhttp is the only layer that
// retries.
//
//	go run ./examples/goopenai
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	openai "github.com/sashabaranov/go-openai"

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
		fmt.Fprintln(os.Stderr, "goopenai:", err)
		os.Exit(1)
	}
	fmt.Printf("the server saw %d requests for 2 calls\n", srv.Stats().Requests)
}

// Faults is the test server's script, two faults for each call.
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

	cfg := openai.DefaultConfig("sk-example-not-a-real-key")
	cfg.BaseURL = baseURL + "/v1"
	cfg.HTTPClient = hc.Client
	client := openai.NewClientWithConfig(cfg)

	req := openai.ChatCompletionRequest{
		Model:     "gpt-4o-mini",
		Messages:  []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Say hello."}},
		MaxTokens: 8,
	}
	resp, err := client.CreateChatCompletion(ctx, req)
	if err != nil {
		return fmt.Errorf("chat completion: %w", err)
	}
	fmt.Fprintf(out, "non-streaming: %s\n", resp.Choices[0].Message.Content)

	req.MaxTokens = 12
	stream, err := client.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return fmt.Errorf("chat stream: %w", err)
	}
	defer stream.Close()
	fmt.Fprint(out, "streaming: ")
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("chat stream: %w", err)
		}
		for _, c := range chunk.Choices {
			fmt.Fprint(out, c.Delta.Content)
		}
	}
	fmt.Fprintln(out)
	return nil
}
