package janitor_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/llmhttp/llmhttp/janitor"
	"github.com/llmhttp/llmhttp/roundtripper"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=5") // the janitor closes it after 4s idle
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	j := janitor.New(janitor.Config{IdleTimeout: 60 * time.Second, MaxLifetime: 10 * time.Minute, MaxRequestsPerConn: 1000})
	defer j.Close()
	tr := &http.Transport{DialContext: j.WrapDial(nil)} // or transport.Config{DialContext: j.WrapDial(nil)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, j.Middleware())}

	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	st := j.Stats()
	fmt.Printf("dialed %d, open %d, idle %d\n", st.Dialed, st.Open, st.Idle)
	// Output: dialed 1, open 1, idle 1
}
