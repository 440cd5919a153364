package llmhttp_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"

	"github.com/llmhttp/llmhttp/janitor"
	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/roundtripper/observe"
	"github.com/llmhttp/llmhttp/roundtripper/ratelimit"
	"github.com/llmhttp/llmhttp/roundtripper/retry"
	"github.com/llmhttp/llmhttp/sse"
)

// fakeBody is a response body over a fixed answer.
type fakeBody struct{ r bytes.Reader }

func (b *fakeBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *fakeBody) Close() error               { return nil }

var answer = []byte(`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"t0 t1"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`)

// fakeRT answers every call at once with answer and headers like
// testserver's, after calling the hooks of a reused HTTP/1.1 connection.
type fakeRT struct{ hdr http.Header }

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	if t := httptrace.ContextClientTrace(req.Context()); t != nil {
		if t.GetConn != nil {
			t.GetConn("127.0.0.1:1")
		}
		if t.GotConn != nil {
			t.GotConn(httptrace.GotConnInfo{Reused: true, WasIdle: true})
		}
		if t.WroteHeaders != nil {
			t.WroteHeaders()
		}
		if t.WroteRequest != nil {
			t.WroteRequest(httptrace.WroteRequestInfo{})
		}
		if t.GotFirstResponseByte != nil {
			t.GotFirstResponseByte()
		}
	}
	b := &fakeBody{}
	b.r.Reset(answer)
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: f.hdr, Body: b, ContentLength: int64(len(answer)), Request: req}, nil
}

// BenchmarkLayerCost measures each layer's own cost per call, and the
// default chain's (all), over a transport that answers at once and calls
// the httptrace hooks a reused connection would: no network, so the
// figures are the layers' CPU time and allocations alone. (none is the
// http.Client and the fake transport.)
func BenchmarkLayerCost(b *testing.B) {
	hdr := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_0123456789"},
		"X-Ratelimit-Limit-Requests": {"1000000000"}, "X-Ratelimit-Remaining-Requests": {"999999999"},
		"X-Ratelimit-Limit-Tokens": {"1000000000000"}, "X-Ratelimit-Remaining-Tokens": {"999999999999"},
		"X-Ratelimit-Reset-Requests": {"0s"}, "X-Ratelimit-Reset-Tokens": {"0s"}}
	body := chatBody(false, 2)
	j := janitor.New(janitor.Config{})
	defer j.Close()
	lim := ratelimit.New(ratelimit.Config{})
	layers := map[string]roundtripper.Middleware{
		"observe":   observe.New(observe.Config{}),
		"retry":     retry.New(retry.Config{}),
		"ratelimit": lim.Middleware(),
		"watchdog":  sse.Watchdog(sse.WatchdogConfig{}),
		"janitor":   j.Middleware(),
	}
	for _, name := range []string{"none", "observe", "retry", "ratelimit", "watchdog", "janitor", "observe+janitor", "all"} {
		b.Run(name, func(b *testing.B) {
			var rt http.RoundTripper = &fakeRT{hdr: hdr}
			switch name {
			case "observe+janitor":
				rt = roundtripper.Chain(rt, layers["observe"], layers["janitor"])
			case "all":
				rt = roundtripper.Chain(rt, layers["observe"], layers["retry"], layers["ratelimit"], layers["watchdog"], layers["janitor"])
			default:
				if m := layers[name]; m != nil {
					rt = m(rt)
				}
			}
			c := &http.Client{Transport: rt}
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
}
