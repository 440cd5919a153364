package retry_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
)

func ExampleNew() {
	// A server that is overloaded for the first call, and says how long to wait.
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("retry-after-ms", "20")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"object":"chat.completion"}`)
	}))
	defer srv.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, retry.New(retry.Config{
		OnAttempt: func(a retry.Attempt) {
			fmt.Printf("attempt %d: status %d, retry %v (%s)\n", a.N, a.Status, a.Retry, a.WaitSource)
		},
	}))}

	resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// attempt 1: status 503, retry true (retry-after-ms)
	// attempt 2: status 200, retry false ()
	// {"object":"chat.completion"}
}

func ExampleAfter() {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, h := range []http.Header{
		{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}},
		{"Retry-After": {"30"}},
		{"Retry-After": {"Wed, 25 Nov 2026 10:01:00 GMT"}},
		{"Retry-After": {"soon"}},
	} {
		d, ok := retry.After(&http.Response{Header: h}, now)
		fmt.Println(d, ok)
	}
	// Output:
	// 1.5s true
	// 30s true
	// 1m0s true
	// 0s false
}

func ExampleError() {
	// Nothing listens on this port: every attempt is refused.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	_ = l.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, retry.New(retry.Config{
		MaxRetries: 2,
		BaseDelay:  time.Millisecond,
	}))}
	_, err := client.Get("http://" + addr + "/v1/models")

	var e *retry.Error
	if errors.As(err, &e) {
		fmt.Println("attempts:", e.Attempts)
		fmt.Println("refused:", errors.Is(err, syscall.ECONNREFUSED))
	}
	// Output:
	// attempts: 3
	// refused: true
}

func ExampleNewBudget() {
	// Two clients of the same API (say, one per SDK) share one retry budget,
	// so that together they retry at most about 10% of their calls.
	budget := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1})
	chat := &http.Client{Transport: roundtripper.Chain(nil, retry.New(retry.Config{Budget: budget}))}
	embeddings := &http.Client{Transport: roundtripper.Chain(nil, retry.New(retry.Config{Budget: budget, MaxRetries: 5}))}
	fmt.Println(chat.Transport != nil, embeddings.Transport != nil)
	// Output: true true
}
