package ws_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/ws"
)

func Example() {
	srv, _ := testserver.Start(testserver.Config{})
	defer srv.Close()
	ctx := context.Background()

	c, err := ws.Dial(ctx, strings.Replace(srv.URL(), "http", "ws", 1)+"/v1/realtime", ws.Config{
		HTTPClient: srv.Client(), // in production: llmhttp's client, sharing its dialer and DNS cache
		Header:     http.Header{"Authorization": {"Bearer sk-..."}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	c.WriteJSON(ctx, map[string]any{"type": "response.create", "response": map[string]any{"max_output_tokens": 4}})
	var text strings.Builder
	for {
		var ev struct{ Delta string }
		typ, err := c.ReadJSON(ctx, &ev)
		if errors.Is(err, roundtripper.ErrTokenIntervalTimeout) {
			fmt.Println("stalled") // the same check as for an SSE stream
			return
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(typ)
		text.WriteString(ev.Delta)
		if typ == "response.done" {
			break
		}
	}
	fmt.Printf("%q\n", text.String())
	// Output:
	// session.created
	// response.created
	// response.output_text.delta
	// response.output_text.delta
	// response.output_text.delta
	// response.output_text.delta
	// response.output_text.done
	// response.done
	// "t0 t1 t2 t3"
}

func ExampleHandshakeError() {
	srv, _ := testserver.Start(testserver.Config{Default: testserver.Fault{Status: 401, Body: "invalid_api_key"}})
	defer srv.Close()
	_, err := ws.Dial(context.Background(), strings.Replace(srv.URL(), "http", "ws", 1)+"/v1/realtime", ws.Config{HTTPClient: srv.Client()})
	var he *ws.HandshakeError
	if errors.As(err, &he) {
		fmt.Println(he.StatusCode, he.Code, he.Temporary())
	}
	// The host in the message changes from run to run.
	fmt.Println(strings.SplitN(err.Error(), ": ", 3)[2])
	// Output:
	// 401 invalid_api_key false
	// handshake refused: 401 Unauthorized (the server did not accept the credentials: check the API key): invalid_api_key
}

func ExampleConfig_reconnect() {
	srv, _ := testserver.Start(testserver.Config{})
	defer srv.Close()
	srv.SetRealtimeScript(testserver.RealtimeFault{Fault: testserver.Fault{Close: testserver.CloseAfterHeaders}})
	ctx := context.Background()
	c, err := ws.Dial(ctx, strings.Replace(srv.URL(), "http", "ws", 1)+"/v1/realtime", ws.Config{
		HTTPClient: srv.Client(),
		Reconnect:  ws.ReconnectConfig{MaxAttempts: 3},
		OnNewSession: func(s ws.Session) {
			// The server forgot everything: configure the session again here.
			fmt.Println("new session", s.ID)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for range 3 {
		typ, _, err := c.ReadEvent(ctx)
		if err != nil {
			fmt.Println("lost:", errors.Is(err, ws.ErrConnectionLost))
			continue
		}
		fmt.Println(typ)
	}
	// Output:
	// session.created
	// lost: true
	// new session 2
	// session.created
}
