package ratelimit_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-ratelimit-limit-tokens", "90000")
		fmt.Fprint(w, `{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`)
	}))
	defer srv.Close()

	// Six requests a minute, one at a time; a call that would have to
	// wait is refused.
	lim := ratelimit.New(ratelimit.Config{RequestsPerMinute: 6, MaxWait: -1})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, lim.Middleware())}

	body := `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"Say hi."}]}`
	for range 2 {
		resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if errors.Is(err, ratelimit.ErrLimited) {
			fmt.Println("limited, not sent:", roundtripper.NotSent(err))
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	st := lim.Stats().Hosts[strings.TrimPrefix(srv.URL, "http://")]
	fmt.Printf("admitted %d, rejected %d, estimated %d tokens, used %d, learnt TPM %d\n",
		st.Admitted, st.Rejected, st.EstimatedTokens, st.UsedTokens, st.TokensPerMinute)
	// Output:
	// 200 OK
	// limited, not sent: true
	// admitted 1, rejected 1, estimated 103 tokens, used 12, learnt TPM 90000
}
