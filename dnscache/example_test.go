package dnscache_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/llmhttp/llmhttp/dnscache"
)

// A Cache's DialContext goes into the http.Transport of an LLM client.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	c := dnscache.New(dnscache.Config{})
	defer c.Close()
	tr := &http.Transport{DialContext: c.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL) // an IP literal: dialed as it is
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 ok
}

// Settings in the spirit of the reference: answers kept 10 minutes, IPv4
// only (no AAAA queries), and the API hosts resolved at start-up.
func ExampleCache_Prewarm() {
	c := dnscache.New(dnscache.Config{
		TTL:    10 * time.Minute,
		Family: dnscache.FamilyIPv4,
	})
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Prewarm(ctx, "api.openai.com", "api.anthropic.com:443"); err != nil {
		fmt.Println("prewarm:", err) // calls still work; they resolve on first use
	}
}

// localhost never reaches DNS (RFC 6761), and IP literals are answered as
// they are.
func ExampleCache_LookupNetIP() {
	c := dnscache.New(dnscache.Config{})
	defer c.Close()

	addrs, err := c.LookupNetIP(context.Background(), "ip", "localhost")
	fmt.Println(addrs, err)
	addrs, err = c.LookupNetIP(context.Background(), "ip4", "192.0.2.1")
	fmt.Println(addrs, err)
	fmt.Println(c.Stats().UpstreamQueries)
	// Output:
	// [127.0.0.1 ::1] <nil>
	// [192.0.2.1] <nil>
	// 0
}
