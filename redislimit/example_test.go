package redislimit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmhttp/llmhttp/redislimit"
	"github.com/llmhttp/llmhttp/roundtripper"
)

// With Redis unreachable (nothing listens on port 1), the limiter fails
// open: this process admits its share, a quarter of the fleet's limits.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"usage":{"total_tokens":12}}`)
	}))
	defer srv.Close()

	rdb := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:1",
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           200 * time.Millisecond,
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	lim := redislimit.New(rdb, redislimit.Config{
		RequestsPerMinute: 600, TokensPerMinute: 100_000,
		Processes: 4,
	})
	defer lim.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, lim.Middleware())}
	resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"max_tokens":50}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	st := lim.Stats()
	fmt.Println(resp.Status)
	fmt.Println("degraded:", st.Redis.Degraded, "fail-open calls:", st.Redis.FailOpen)
	// Output:
	// 200 OK
	// degraded: true fail-open calls: 1
}
