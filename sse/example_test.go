package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/sse"
)

func ExampleReader() {
	stream := "event: greeting\nid: 1\ndata: hello\ndata: world\n\n: a comment\ndata: [DONE]\n\n"
	r := sse.NewReader(strings.NewReader(stream))
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s id=%s %q done=%v\n", ev.Type, ev.ID, ev.Data, ev.IsDone())
	}
	// Output:
	// greeting id=1 "hello\nworld" done=false
	// message id=1 "[DONE]" done=true
}

func ExampleReader_All() {
	stream := "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n"
	for ev, err := range sse.NewReader(strings.NewReader(stream)).All() {
		if err != nil {
			fmt.Println(err)
			return
		}
		if ev.IsDone() {
			break
		}
		fmt.Println(string(ev.Data))
	}
	// Output:
	// {"n":1}
	// {"n":2}
}

func ExampleWatchdog() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tok := range []string{"Hel", "lo"} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", tok)
		}
		// The stream ends without "data: [DONE]": it was cut short.
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, sse.Watchdog(sse.WatchdogConfig{
		FirstTokenTimeout:    15 * time.Second,
		TokenIntervalTimeout: 10 * time.Second,
	}))}

	resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	for ev, err := range sse.NewReader(resp.Body).All() {
		if err != nil {
			fmt.Println("truncated:", errors.Is(err, sse.ErrTruncated))
			break
		}
		fmt.Println(string(ev.Data))
	}
	// Output:
	// {"choices":[{"delta":{"content":"Hel"}}]}
	// {"choices":[{"delta":{"content":"lo"}}]}
	// truncated: true
}

func ExampleWithTimeouts() {
	// A reasoning model may think for minutes before its first token: give
	// this one call a longer first-token timeout than the client's default.
	ctx := sse.WithTimeouts(context.Background(), sse.WatchdogConfig{FirstTokenTimeout: 5 * time.Minute})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/v1/chat/completions", nil)
	fmt.Println(req.Context() == ctx)
	// Output: true
}
