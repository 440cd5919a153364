// Command realtime holds an OpenAI Realtime-style session over wss://
// against llmhttp's embedded test server: it configures the session, asks
// for responses and prints their text deltas as they arrive. The server is
// scripted to drop the connection in the middle of the first answer, so the
// program shows what a caller does about it: the ws package reconnects with
// backoff and says that the session is new; the program configures it again
// and asks its question again itself. Nothing is replayed behind its back.
//
//	go run ./examples/realtime
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/ws"
)

func main() {
	tps := flag.Float64("tps", 40, "text deltas per second the test server streams")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *tps); err != nil {
		fmt.Fprintln(os.Stderr, "realtime:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, tps float64) error {
	srv, err := testserver.Start(testserver.Config{Protocol: testserver.TLS, TokensPerSecond: tps})
	if err != nil {
		return err
	}
	defer srv.Close()
	// The first connection is cut after 3 deltas of its first answer.
	srv.SetRealtimeScript(testserver.RealtimeFault{Fault: testserver.Fault{Close: testserver.CloseMidStream, StallAfter: 3}})

	tr := srv.Transport() // in production: the transport of llmhttp's client
	defer tr.CloseIdleConnections()
	url := strings.Replace(srv.URL(), "https://", "wss://", 1) + testserver.RealtimePath + "?model=testserver-model"
	c, err := ws.Dial(ctx, url, ws.Config{
		HTTPClient:           &http.Client{Transport: tr},
		Header:               http.Header{"Authorization": {"Bearer sk-realtime-not-a-real-key"}, "OpenAI-Beta": {"realtime=v1"}},
		PingInterval:         5 * time.Second,
		FirstEventTimeout:    10 * time.Second,
		EventIntervalTimeout: 5 * time.Second,
		Reconnect:            ws.ReconnectConfig{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond},
		MaxSessionAge:        ws.OpenAIRealtimeMaxAge - 5*time.Minute,
		OnNewSession: func(s ws.Session) {
			fmt.Fprintf(out, "[new session %d: the server kept nothing of the old one]\n", s.ID)
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()

	questions := []string{"Say hello.", "Count to five."}
	retries := 0
	for i := 0; i < len(questions); {
		if err := awaitSession(ctx, c, out); err != nil {
			return err
		}
		fmt.Fprintf(out, "> %s\n", questions[i])
		err := ask(ctx, c, out)
		var lost *ws.LostError
		switch {
		case errors.As(err, &lost):
			// The answer was cut. Asking again is the caller's decision:
			// the new session must be configured first, and the model
			// may bill both attempts.
			fmt.Fprintf(out, "\n[connection lost (%v); asking again]\n", lost.Err)
			if retries++; retries > 3 {
				return err
			}
			configured = 0 // the next session must be configured anew
			continue
		case errors.Is(err, roundtripper.ErrTokenIntervalTimeout), errors.Is(err, roundtripper.ErrFirstTokenTimeout):
			fmt.Fprintln(out, "\n[the answer stalled]")
			return err
		case err != nil:
			return err
		}
		i++
	}
	return nil
}

// configured is the session ID last configured with session.update.
var configured int

// awaitSession makes sure the current session is configured: a new one
// opens with session.created and has forgotten any session.update.
func awaitSession(ctx context.Context, c *ws.Conn, out io.Writer) error {
	s := c.Session()
	if configured == s.ID && s.ID != 0 {
		return nil
	}
	for {
		typ, _, err := c.ReadEvent(ctx) // after a loss, this Read reconnects
		if err != nil {
			var lost *ws.LostError
			if errors.As(err, &lost) {
				continue
			}
			return err
		}
		if typ == "session.created" {
			break
		}
	}
	if err := c.WriteJSON(ctx, map[string]any{"type": "session.update", "session": map[string]any{
		"instructions": "Answer briefly.", "modalities": []string{"text"},
	}}); err != nil {
		return err
	}
	for {
		typ, err := c.ReadJSON(ctx, nil)
		if err != nil {
			return err
		}
		if typ == "session.updated" {
			configured = c.Session().ID
			fmt.Fprintf(out, "[session %d configured]\n", configured)
			return nil
		}
	}
}

// ask sends response.create and prints the deltas until response.done.
func ask(ctx context.Context, c *ws.Conn, out io.Writer) error {
	if err := c.WriteJSON(ctx, map[string]any{"type": "response.create", "response": map[string]any{"max_output_tokens": 8}}); err != nil {
		return err
	}
	for {
		var ev struct {
			Delta string `json:"delta"`
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
			Response struct {
				Status string `json:"status"`
				Usage  struct {
					OutputTokens int `json:"output_tokens"`
				} `json:"usage"`
			} `json:"response"`
		}
		typ, err := c.ReadJSON(ctx, &ev)
		if err != nil {
			return err
		}
		switch typ {
		case "response.output_text.delta":
			fmt.Fprint(out, ev.Delta)
		case "response.done":
			fmt.Fprintf(out, "\n[%s, %d tokens]\n", ev.Response.Status, ev.Response.Usage.OutputTokens)
			return nil
		case "error":
			return fmt.Errorf("server error event: %s: %s", ev.Error.Code, ev.Error.Message)
		}
	}
}
