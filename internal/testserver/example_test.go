package testserver_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

// A stream that stalls after two tokens, then goes on.
func Example() {
	srv, err := testserver.Start(testserver.Config{
		Protocol: testserver.H2C,
		Script: []testserver.Fault{
			{StallAfter: 2, StallFor: 50 * time.Millisecond},
		},
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client := srv.Client()

	resp, err := client.Post(srv.URL()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"max_tokens":4}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Proto, resp.StatusCode)

	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			fmt.Println("[DONE]")
			break
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string }
			}
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			panic(err)
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			fmt.Printf("%q\n", chunk.Choices[0].Delta.Content)
		}
	}
	fmt.Println(srv.Stats().Requests, "request")
	// Output:
	// HTTP/2.0 200
	// "t0"
	// " t1"
	// " t2"
	// " t3"
	// [DONE]
	// 1 request
}

// An ad-hoc fault through the request header: a 429 with a wait hint.
func Example_faultHeader() {
	srv, err := testserver.Start(testserver.Config{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	fault, _ := json.Marshal(testserver.Fault{
		Status: http.StatusTooManyRequests,
		Header: map[string]string{"retry-after-ms": "250"},
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/v1/messages", strings.NewReader(`{}`))
	req.Header.Set(testserver.FaultHeader, string(fault))
	resp, err := srv.Client().Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Type string }
	}
	json.NewDecoder(resp.Body).Decode(&body)
	fmt.Println(resp.StatusCode, resp.Header.Get("retry-after-ms"), body.Error.Type)
	fmt.Println(string(fault))
	// Output:
	// 429 250 rate_limit_error
	// {"Status":429,"Header":{"retry-after-ms":"250"}}
}
