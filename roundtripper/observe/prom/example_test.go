package prom_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
	"github.com/llmhttp/llmhttp/roundtripper/observe/prom"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()

	reg := prometheus.NewRegistry()
	metrics, err := prom.New(reg, prom.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(tr, observe.New(observe.Config{Sinks: []observe.Sink{metrics}}))}
	for range 3 {
		resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
		if err != nil {
			fmt.Println(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}

	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() != "llmhttp_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "host" {
					fmt.Printf("%s=%s ", l.GetName(), l.GetValue())
				}
			}
			fmt.Println(m.GetCounter().GetValue())
		}
	}
	// Output:
	// method=POST outcome=none status_class=2xx 3
}
