package llmhttp_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/llmhttp/llmhttp"
	"github.com/llmhttp/llmhttp/internal/testserver"
)

func ExampleNewClient() {
	srv, _ := testserver.Start(testserver.Config{})
	defer srv.Close()

	c, err := llmhttp.NewClient(llmhttp.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	resp, err := c.Post(srv.URL()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"test","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.Contains(string(body), testserver.Text(3)))
	// Output: 200 true
}
