package observe

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"

	"slices"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
)

// countSink counts reports without keeping them, as an aggregating sink does.
type countSink struct{ n int }

func (s *countSink) Observe(*Report) { s.n++ }

// benchServer is the fake LLM API the overhead benchmarks call: a real
// loopback HTTP/1.1 server answering chat completions.
func benchServer(b *testing.B) *testserver.Server {
	srv, err := testserver.Start(testserver.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	return srv
}

var benchBody = []byte(`{"model":"test","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`)

// doCall makes a small non-streaming chat completion call through rt and
// reads the answer to its end.
func doCall(b *testing.B, rt http.RoundTripper, base string) {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(benchBody))
	req.Header.Set("Content-Type", "application/json")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// interleave times bare and observed calls in the same loop, alternating
// which goes first, so that machine noise hits both alike, and reports:
//   - bare-ns and observe-ns: the medians of each;
//   - extra-ns: the median of the paired differences (observe minus bare, in
//     the same iteration), robust to slow spells of a shared machine, which
//     hit both, and to the pauses (GC, preemption) that dominate means;
//   - ratio: 1 + extra-ns/bare-ns, the figure to quote;
//   - the allocations per call of each path.
func interleave(b *testing.B, bare, observed func()) {
	bare()
	observed()
	const keep = 1 << 17
	db := make([]time.Duration, 0, keep)
	do := make([]time.Duration, 0, keep)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		first, second := bare, observed
		if i%2 == 1 {
			first, second = observed, bare
		}
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		t2 := time.Now()
		d1, d2 := t1.Sub(t0), t2.Sub(t1)
		if i%2 == 1 {
			d1, d2 = d2, d1
		}
		if len(db) < keep {
			db = append(db, d1)
			do = append(do, d2)
		}
		i++
	}
	b.StopTimer()
	diffs := make([]time.Duration, len(db))
	for k := range db {
		diffs[k] = do[k] - db[k]
	}
	slices.Sort(diffs)
	slices.Sort(db)
	slices.Sort(do)
	mb, mo, md := db[len(db)/2], do[len(do)/2], diffs[len(diffs)/2]
	b.ReportMetric(float64(mb), "bare-ns")
	b.ReportMetric(float64(mo), "observe-ns")
	b.ReportMetric(float64(md), "extra-ns")
	b.ReportMetric(1+float64(md)/float64(mb), "ratio")
	b.ReportMetric(testing.AllocsPerRun(100, bare), "bare-allocs")
	b.ReportMetric(testing.AllocsPerRun(100, observed), "observe-allocs")
}

// BenchmarkOverhead compares a small non-streaming loopback call to
// internal/testserver (HTTP/1.1, kept-alive connection) through the bare
// transport and through observe with an aggregating sink, interleaved; the
// ratio metric is the figure of the budget (at most 1.01).
func BenchmarkOverhead(b *testing.B) {
	srv := benchServer(b)
	bare := &http.Transport{}
	defer bare.CloseIdleConnections()
	obsTr := &http.Transport{}
	defer obsTr.CloseIdleConnections()
	observed := New(Config{Sinks: []Sink{&countSink{}}})(obsTr)
	interleave(b,
		func() { doCall(b, bare, srv.URL()) },
		func() { doCall(b, observed, srv.URL()) })
}

// fakeConnTransport answers at once, calling the httptrace hooks a reused
// HTTP/1.1 connection would: it isolates observe's own cost from the
// network's.
type fakeConnTransport struct{ hdr http.Header }

type fakeBody struct{ n int }

func (b *fakeBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, io.EOF
	}
	n := min(b.n, len(p))
	b.n -= n
	return n, nil
}

func (b *fakeBody) Close() error { return nil }

func (f *fakeConnTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t := httptrace.ContextClientTrace(req.Context()); t != nil {
		t.GotConn(httptrace.GotConnInfo{Reused: true, WasIdle: true})
		if t.WroteRequest != nil {
			t.WroteRequest(httptrace.WroteRequestInfo{})
		}
		t.GotFirstResponseByte()
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: f.hdr, Body: &fakeBody{n: 80}, Request: req}, nil
}

// BenchmarkCost measures observe's own cost per call (extra-ns) over a
// transport that does nothing but call the hooks.
func BenchmarkCost(b *testing.B) {
	hdr := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_0123456789"}}
	bare := &fakeConnTransport{hdr: hdr}
	observed := New(Config{Sinks: []Sink{&countSink{}}})(&fakeConnTransport{hdr: hdr})
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/v1/models", nil)
	call := func(rt http.RoundTripper) {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	interleave(b, func() { call(bare) }, func() { call(observed) })
}

type floorKey struct{}

type floorBody struct{ io.ReadCloser }

// BenchmarkOverheadFloor measures, as BenchmarkOverhead does, the least any
// middleware that traces a call must do: put a value in a copy of the
// request's context (req.WithContext) and wrap the response body. It shows
// how much of observe's overhead is that floor.
func BenchmarkOverheadFloor(b *testing.B) {
	srv := benchServer(b)
	bare := &http.Transport{}
	defer bare.CloseIdleConnections()
	floorTr := &http.Transport{}
	defer floorTr.CloseIdleConnections()
	floor := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		resp, err := floorTr.RoundTrip(req.WithContext(context.WithValue(req.Context(), floorKey{}, 1)))
		if err != nil {
			return nil, err
		}
		resp.Body = &floorBody{resp.Body}
		return resp, nil
	})
	interleave(b,
		func() { doCall(b, bare, srv.URL()) },
		func() { doCall(b, floor, srv.URL()) })
}

// TestAllocs checks the design's promise: over a reused HTTP/1 connection,
// observe adds two allocations to a call (the request's copy and one object
// holding the context and the body wrapper), its hooks none.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	hdr := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_0123456789"}}
	bare := &fakeConnTransport{hdr: hdr}
	observed := New(Config{Sinks: []Sink{&countSink{}}})(&fakeConnTransport{hdr: hdr})
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/v1/models", nil)
	if err != nil {
		t.Fatal(err)
	}
	call := func(rt http.RoundTripper) func() {
		return func() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	a := testing.AllocsPerRun(1000, call(bare))
	b := testing.AllocsPerRun(1000, call(observed))
	if b-a > 2 {
		t.Errorf("observe adds %v allocations per call, want at most 2", b-a)
	}
}

// BenchmarkStreamEvent is the per-token cost of a stream: the hook the
// stream layer calls for each event.
func BenchmarkStreamEvent(b *testing.B) {
	o := newObserver(Config{})
	c := o.newCall()
	c.begin(&http.Request{Method: "POST", URL: &url.URL{Host: "h"}}, o.start())
	b.ReportAllocs()
	for b.Loop() {
		c.streamEvent(true)
	}
}

// BenchmarkScan is the cost of looking for terminal events in a stream's
// body when no stream layer reports them, per read of one event.
func BenchmarkScan(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" t1"},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	c := &call{headOn: true}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		c.scan(chunk)
	}
}
