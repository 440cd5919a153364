package observe_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req_123")
		fmt.Fprint(w, `{"choices":[{"message":{"content":"hi"}}]}`)
	}))
	defer srv.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	mw := observe.New(observe.Config{
		OnReport: func(r *observe.Report) {
			a := r.Last()
			fmt.Printf("%s %s: %d after %d attempt(s), request %s, connection reused: %v, headers before the end: %v\n",
				r.Method, r.Path, r.Status, len(r.Attempts), r.RequestID, a.Reused, a.FirstByte <= r.Duration)
		},
	})
	client := &http.Client{Transport: roundtripper.Chain(tr, mw)}

	for range 2 {
		resp, err := client.Post(srv.URL+"/v1/chat/completions?api-key=never-reported", "application/json", strings.NewReader(`{}`))
		if err != nil {
			fmt.Println(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close() // the report is final at EOF or Close
	}
	// Output:
	// POST /v1/chat/completions: 200 after 1 attempt(s), request req_123, connection reused: false, headers before the end: true
	// POST /v1/chat/completions: 200 after 1 attempt(s), request req_123, connection reused: true, headers before the end: true
}
