package roundtripper_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// userAgent is a middleware that sets a header on a clone of each request,
// leaving the caller's request untouched as the RoundTripper contract asks.
func userAgent(ua string) roundtripper.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundtripper.Func(func(req *http.Request) (*http.Response, error) {
			req = req.Clone(req.Context())
			req.Header.Set("User-Agent", ua)
			return next.RoundTrip(req)
		})
	}
}

func ExampleChain() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s", r.Header.Get("User-Agent"))
	}))
	defer srv.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, userAgent("llmhttp-example"))}

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello, llmhttp-example
}
