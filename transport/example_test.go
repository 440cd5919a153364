package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/llmhttp/llmhttp/transport"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	defer srv.Close()

	tr := transport.New(transport.HighConcurrency)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL + "/v1/models")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 {"object":"list","data":[]}
}

func ExampleErrPoolTimeout() {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer srv.Close()
	defer close(release)

	tr := transport.New(transport.Config{MaxConnsPerHost: 1, PoolTimeout: 50 * time.Millisecond})
	defer tr.CloseIdleConnections()

	// One call occupies the only slot...
	busy, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		if resp, err := tr.RoundTrip(busy); err == nil {
			_ = resp.Body.Close()
		}
	}()
	<-arrived

	// ...so the next one fails after the pool timeout, having sent nothing.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	_, err = tr.RoundTrip(req)
	fmt.Println(errors.Is(err, transport.ErrPoolTimeout))
	// Output: true
}
