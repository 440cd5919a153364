package health_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/health"
)

func replica(name string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s answered %s %s", name, r.Method, r.URL.Path)
	}))
}

// A call addressed to the primary moves to the standby within the call when
// the primary refuses connections: nothing reached it, so re-sending the POST
// cannot bill twice.
func Example() {
	primary, standby := replica("primary"), replica("standby")
	defer standby.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc, err := health.New(health.Config{
		Endpoints: []string{primary.URL + "/v1", standby.URL + "/v1"},
		Transport: tr, // probes warm the pool real calls use
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hc.Close()
	client := &http.Client{Transport: roundtripper.Chain(tr, hc.Middleware())}

	primary.Close()
	resp, err := client.Post(primary.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: standby answered POST /v1/chat/completions
}

// When no endpoint can take a call, it fails at once with an error that
// matches ErrNoHealthyEndpoint and says why each endpoint is out.
func ExampleUnavailableError() {
	a, b := replica("a"), replica("b")
	a.Close()
	b.Close()

	hc, err := health.New(health.Config{Endpoints: []string{a.URL, b.URL}, Interval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hc.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, hc.Middleware())}

	_, err = client.Get(a.URL + "/v1/models")
	fmt.Println(errors.Is(err, health.ErrNoHealthyEndpoint))
	var ue *health.UnavailableError
	if errors.As(err, &ue) {
		for _, o := range ue.Endpoints {
			fmt.Println(strings.Contains(o.Reason, "connection refused"))
		}
	}
	// Output:
	// true
	// true
	// true
}
