package faultmatrix

import (
	"fmt"
	"net/http"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

// Proto is the HTTP protocol of a cell.
type Proto string

// The protocols of the matrix.
const (
	HTTP1 Proto = "http1"
	H2C   Proto = "h2c"
)

// Cell is one cell of the matrix: a fault, a call mode and a protocol.
type Cell struct {
	Name     string // "<fault>/<stream|nonstream>/<proto>", e.g. "toxic:latency/stream/h2c"
	Fault    string // "toxic:latency", "server:429-retry-after", ...
	Stream   bool   // streaming calls ("stream": true) or not
	Proto    Proto
	Injected string // what is injected, in plain words

	toxic    *toxic                               // a toxiproxy toxic on the proxy, or nil
	server   func(now time.Time) testserver.Fault // a fault for the first requests, or nil
	messages bool                                 // call Anthropic's /v1/messages instead of chat completions
	perConn  int                                  // testserver MaxRequestsPerConn
}

// toxic is a toxiproxy toxic as its JSON API takes it, applied to every
// connection through its proxy (toxicity 1).
type toxic struct {
	Type       string
	Stream     string // "downstream" (server to client) or "upstream"
	Attributes map[string]any

	// Alternate, when set, sends every second connection the client dials
	// (the 2nd, 4th, ...) through a second proxy without the toxic, so that
	// "half the connections" is the same for both clients and every run,
	// which toxiproxy's random toxicity is not.
	Alternate bool
}

// faultSpec is one row of the matrix before it is crossed with modes and
// protocols.
type faultSpec struct {
	name      string
	injected  string
	toxic     *toxic
	server    func(now time.Time, stream bool) testserver.Fault
	messages  bool
	perConn   int
	nonStream string // what the non-streaming variant injects, if it differs
}

// The toxic parameters are chosen against the test server's answers: a
// non-streaming answer is about 350 bytes of headers and 450 of body over
// HTTP/1.1, a stream about 390 bytes of headers and 4 KB of events, its
// first content token after about 600 bytes.
func toxicSpecs() []faultSpec {
	down := func(typ string, half bool, attrs map[string]any) *toxic {
		return &toxic{Type: typ, Stream: "downstream", Alternate: half, Attributes: attrs}
	}
	return []faultSpec{
		{name: "toxic:latency", injected: "every connection: +200ms ±50ms on each server→client chunk",
			toxic: down("latency", false, map[string]any{"latency": 200, "jitter": 50})},
		{name: "toxic:bandwidth", injected: "every connection: server→client at 16 KB/s (toxiproxy releases a stream in bursts)",
			toxic: down("bandwidth", false, map[string]any{"rate": 16})},
		{name: "toxic:slicer", injected: "every connection: server→client cut in 32±16-byte pieces, 0.1ms apart",
			toxic: down("slicer", false, map[string]any{"average_size": 32, "size_variation": 16, "delay": 100})},
		{name: "toxic:limit_data", injected: "1st, 3rd, ... connection: closed after 450 server→client bytes (in the first event / body)",
			toxic: down("limit_data", true, map[string]any{"bytes": 450})},
		{name: "toxic:reset_peer", injected: "1st, 3rd, ... connection: server→client data dropped, TCP RST 100ms after the first byte",
			toxic: down("reset_peer", true, map[string]any{"timeout": 100})},
		{name: "toxic:timeout", injected: "1st, 3rd, ... connection: server→client data dropped, connection held open",
			toxic: down("timeout", true, map[string]any{"timeout": 0})},
		{name: "toxic:slow_close", injected: "every connection: the server's close (one request per connection) reaches the client 1.5s late",
			toxic: down("slow_close", false, map[string]any{"delay": 1500}), perConn: 1},
	}
}

func serverSpecs() []faultSpec {
	status := func(code int, hdr func(now time.Time) map[string]string) func(time.Time, bool) testserver.Fault {
		return func(now time.Time, _ bool) testserver.Fault {
			f := testserver.Fault{Status: code}
			if hdr != nil {
				f.Header = hdr(now)
			}
			return f
		}
	}
	return []faultSpec{
		{name: "server:429-retry-after", injected: "429, Retry-After: 1",
			server: status(429, func(time.Time) map[string]string { return map[string]string{"Retry-After": "1"} })},
		{name: "server:429-retry-after-date", injected: "429, Retry-After: HTTP-date 2s ahead",
			server: status(429, func(now time.Time) map[string]string {
				return map[string]string{"Retry-After": now.Add(2 * time.Second).UTC().Format(http.TimeFormat)}
			})},
		{name: "server:429-retry-after-ms", injected: "429, retry-after-ms: 300",
			server: status(429, func(time.Time) map[string]string { return map[string]string{"retry-after-ms": "300"} })},
		{name: "server:429-ratelimit-reset", injected: "429, x-ratelimit-remaining-requests: 0, x-ratelimit-reset-requests: 1s",
			server: status(429, func(time.Time) map[string]string {
				return map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}
			})},
		{name: "server:500", injected: "500", server: status(500, nil)},
		{name: "server:502", injected: "502", server: status(502, nil)},
		{name: "server:503", injected: "503", server: status(503, nil)},
		{name: "server:529", injected: "529 (Anthropic overloaded)", server: status(529, nil)},
		{name: "server:stall-first-token", injected: "headers, then silence for 30s before the first token",
			nonStream: "no headers for 30s",
			server: func(_ time.Time, stream bool) testserver.Fault {
				if stream {
					return testserver.Fault{FirstTokenDelay: 30 * time.Second}
				}
				return testserver.Fault{HeaderDelay: 30 * time.Second}
			}},
		{name: "server:stall-mid-stream", injected: "4 tokens, then silence until the client leaves",
			nonStream: "half the body, then silence until the client leaves",
			server:    func(time.Time, bool) testserver.Fault { return testserver.Fault{StallAfter: 4} }},
		{name: "server:pings-only", injected: "Anthropic /v1/messages: 4 tokens, then only ping events every 200ms",
			nonStream: "Anthropic /v1/messages: half the body, then silence (a JSON body cannot carry pings)",
			messages:  true,
			server: func(time.Time, bool) testserver.Fault {
				return testserver.Fault{StallAfter: 4, StallMode: testserver.StallPings, StallEvery: 200 * time.Millisecond}
			}},
		{name: "server:reset-before-headers", injected: "request read, then TCP RST before any response byte",
			server: func(time.Time, bool) testserver.Fault {
				return testserver.Fault{Close: testserver.CloseBeforeHeaders, Reset: true}
			}},
		{name: "server:reset-after-headers", injected: "200 headers, then TCP RST",
			server: func(time.Time, bool) testserver.Fault {
				return testserver.Fault{Close: testserver.CloseAfterHeaders, Reset: true}
			}},
	}
}

// Cells returns every cell of the matrix, toxics first, each fault in both
// modes and both protocols.
func Cells() []Cell {
	var cells []Cell
	for _, spec := range append(toxicSpecs(), serverSpecs()...) {
		for _, stream := range []bool{false, true} {
			for _, proto := range []Proto{HTTP1, H2C} {
				mode := "nonstream"
				if stream {
					mode = "stream"
				}
				c := Cell{
					Name:     fmt.Sprintf("%s/%s/%s", spec.name, mode, proto),
					Fault:    spec.name,
					Stream:   stream,
					Proto:    proto,
					Injected: spec.injected,
					toxic:    spec.toxic,
					messages: spec.messages,
					perConn:  spec.perConn,
				}
				if !stream && spec.nonStream != "" {
					c.Injected = spec.nonStream
				}
				if spec.server != nil {
					server := spec.server
					c.server = func(now time.Time) testserver.Fault { return server(now, stream) }
				}
				cells = append(cells, c)
			}
		}
	}
	return cells
}
