// Command quickstart streams a chat completion from llmhttp's embedded fake
// OpenAI-compatible server through a roundtripper.Chain, printing each token
// as it arrives.
//
//	go run ./examples/quickstart
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
)

func main() {
	tokens := flag.Int("tokens", 24, "tokens to ask the test server for")
	tps := flag.Float64("tps", 40, "tokens per second the test server streams")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *tokens, *tps); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, tokens int, tps float64) error {
	srv, err := testserver.Start(testserver.Config{TokensPerSecond: tps})
	if err != nil {
		return err
	}
	defer srv.Close()

	tr := srv.Transport()
	defer tr.CloseIdleConnections()
	var attempts atomic.Int64
	client := &http.Client{Transport: roundtripper.Chain(tr, countAttempts(&attempts))}

	body, _ := json.Marshal(map[string]any{
		"model":      "test-model",
		"stream":     true,
		"max_tokens": tokens,
		"messages":   []map[string]string{{"role": "user", "content": "Say hello."}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-quickstart-not-a-real-key")

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	fmt.Fprintf(out, "streaming from %s (request id %s):\n", srv.URL(), resp.Header.Get("x-request-id"))
	n, err := printTokens(out, resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d tokens in %v, %d attempt(s)\n", n, time.Since(start).Round(time.Millisecond), attempts.Load())
	return nil
}

// countAttempts is a minimal Middleware: it counts the requests that pass.
func countAttempts(n *atomic.Int64) roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			n.Add(1)
			return next.RoundTrip(req)
		})
	}
}

// printTokens prints the content deltas of an OpenAI chat-completion stream.
// It reads "data:" lines only; the sse package has the spec-exact reader.
func printTokens(out io.Writer, r io.Reader) (int, error) {
	var chunk struct {
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	n := 0
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for {
		m, err := r.Read(tmp)
		buf = append(buf, tmp[:m]...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			line := strings.TrimSpace(string(buf[:i]))
			buf = buf[i+1:]
			data, ok := strings.CutPrefix(line, "data:")
			if !ok {
				continue
			}
			data = strings.TrimSpace(data)
			if data == "[DONE]" {
				return n, nil
			}
			chunk.Choices = nil
			if json.Unmarshal([]byte(data), &chunk) != nil {
				continue
			}
			for _, c := range chunk.Choices {
				if c.Delta.Content != "" {
					fmt.Fprint(out, c.Delta.Content)
					n++
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return n, errors.New("stream ended without [DONE]")
		}
		if err != nil {
			return n, err
		}
	}
}
