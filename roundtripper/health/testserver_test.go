package health

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/roundtripper"
)

// The tests in this file run against internal/testserver replicas, over
// each protocol it speaks.

const chatPath = "/v1/chat/completions"

// probeFaults sends probes through next, adding a testserver fault header
// to those for the hosts set faulty, so a test can fail a replica's probes
// while its real calls still work (or the other way round).
type probeFaults struct {
	next http.RoundTripper
	mu   sync.Mutex
	by   map[string]string // host -> JSON fault
}

func (p *probeFaults) set(host string, f *testserver.Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.by == nil {
		p.by = map[string]string{}
	}
	if f == nil {
		delete(p.by, host)
		return
	}
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	p.by[host] = string(b)
}

func (p *probeFaults) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	f := p.by[req.URL.Host]
	p.mu.Unlock()
	if f != "" {
		req = req.Clone(req.Context())
		req.Header.Set(testserver.FaultHeader, f)
	}
	return p.next.RoundTrip(req)
}

type tsHarness struct {
	*harness
	srvs   []*testserver.Server
	faults *probeFaults
}

// newTSHarness starts n testservers and a Checker over them, driven by a
// fake clock, with one transport for probes and calls.
func newTSHarness(t *testing.T, proto testserver.Protocol, n int, cfg Config) *tsHarness {
	t.Helper()
	th := &tsHarness{}
	for range n {
		th.srvs = append(th.srvs, testserver.New(t, testserver.Config{Protocol: proto}))
	}
	// testserver shares one certificate, so any server's transport fits all.
	tr := th.srvs[0].Transport()
	t.Cleanup(tr.CloseIdleConnections)
	th.faults = &probeFaults{next: tr}
	for _, s := range th.srvs {
		cfg.Endpoints = append(cfg.Endpoints, s.URL()+"/v1")
	}
	cfg.Transport = th.faults
	th.harness = newHarness(t, cfg)
	th.client = &http.Client{Transport: roundtripper.Chain(tr, th.c.Middleware())}
	return th
}

// chat sends a chat completion addressed to the first replica and returns
// the index of the replica that served it.
func (th *tsHarness) chat() (int, error) {
	th.t.Helper()
	before := th.served()
	resp, err := th.client.Post(th.srvs[0].URL()+chatPath, "application/json", strings.NewReader(`{"model":"m","max_tokens":3}`))
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(th.t, err)
	if resp.StatusCode != http.StatusOK {
		return -1, errors.New("status " + resp.Status)
	}
	assert.Contains(th.t, string(body), testserver.Text(3))
	after := th.served()
	for i := range after {
		if after[i] > before[i] {
			return i, nil
		}
	}
	return -1, errors.New("no replica saw the call")
}

func (th *tsHarness) mustChat() int {
	th.t.Helper()
	i, err := th.chat()
	require.NoError(th.t, err)
	return i
}

func (th *tsHarness) served() []int64 {
	out := make([]int64, len(th.srvs))
	for i, s := range th.srvs {
		out[i] = s.Stats().RequestsByPath[chatPath]
	}
	return out
}

func (th *tsHarness) probes(i int) int64 { return th.srvs[i].Stats().RequestsByPath["/v1/models"] }

var protocols = []testserver.Protocol{testserver.HTTP1, testserver.H2C, testserver.TLS}

func TestTestserverFailoverAndRecovery(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			th := newTSHarness(t, proto, 3, Config{})
			// Stays on the preferred endpoint while it is healthy.
			for range 3 {
				for range 3 {
					assert.Equal(t, 0, th.mustChat())
				}
				th.round()
			}
			for i := range th.srvs {
				assert.EqualValues(t, 4, th.probes(i), "every replica is probed: warm-up and three rounds")
			}

			// Its probe turns 503: within two intervals the traffic moves, and
			// no call fails on the way.
			host0 := th.srvs[0].Addr()
			th.faults.set(host0, &testserver.Fault{Status: http.StatusServiceUnavailable})
			th.round()
			assert.Equal(t, 0, th.mustChat(), "one failed probe does not eject")
			th.round()
			require.Equal(t, StateEjected, th.state(0))
			for range 3 {
				assert.Equal(t, 1, th.mustChat())
			}

			// Recovery moves the traffic back.
			th.faults.set(host0, nil)
			th.round()
			require.Equal(t, StateInService, th.state(0))
			assert.Equal(t, 0, th.mustChat())

			// A 529 (overloaded) probe ejects too, and so does a hung probe.
			th.faults.set(host0, &testserver.Fault{Status: 529})
			th.round()
			th.round()
			require.Equal(t, StateEjected, th.state(0))
			assert.Equal(t, 1, th.mustChat())
			th.faults.set(host0, nil)
			th.round()
			require.Equal(t, StateInService, th.state(0))
			assert.Equal(t, 0, th.mustChat(), "%+v", th.c.Stats()[0])
		})
	}
}

func TestTestserverClosedListenerMovesTheNextCall(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			th := newTSHarness(t, proto, 2, Config{})
			assert.Equal(t, 0, th.mustChat())
			require.NoError(t, th.srvs[0].Close())
			assert.Equal(t, 1, th.mustChat(), "the very next call moved within the call")
			assert.Equal(t, 1, th.c.Stats()[0].ConsecutiveFailures)
		})
	}
}

// A server that closes while the client's pool still holds its connection
// (here, a transport the server did not hand out and so cannot empty).
func TestTestserverClosedServerWithStalePooledConnection(t *testing.T) {
	for _, proto := range []testserver.Protocol{testserver.HTTP1, testserver.H2C} {
		t.Run(proto.String(), func(t *testing.T) {
			a := testserver.New(t, testserver.Config{Protocol: proto})
			b := testserver.New(t, testserver.Config{Protocol: proto})
			tr := &http.Transport{Protocols: new(http.Protocols)}
			tr.Protocols.SetHTTP1(proto == testserver.HTTP1)
			tr.Protocols.SetUnencryptedHTTP2(proto == testserver.H2C)
			defer tr.CloseIdleConnections()
			h := newHarness(t, Config{Endpoints: []string{a.URL(), b.URL()}, Transport: tr})
			client := &http.Client{Transport: roundtripper.Chain(tr, h.c.Middleware())}
			for range 20 {
				resp, err := client.Post(a.URL()+chatPath, "application/json", strings.NewReader(`{}`))
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			require.NoError(t, a.Close())
			resp, err := client.Post(a.URL()+chatPath, "application/json", strings.NewReader(`{"model":"m"}`))
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.EqualValues(t, 1, b.Stats().RequestsByPath[chatPath])
		})
	}
}

func TestTestserverAllDownFailsFast(t *testing.T) {
	th := newTSHarness(t, testserver.HTTP1, 3, Config{ProbeFailures: 1})
	for _, s := range th.srvs {
		th.faults.set(s.Addr(), &testserver.Fault{Status: http.StatusBadGateway})
	}
	th.round()
	before := th.served()
	const calls = 20
	var worst time.Duration
	for range calls {
		start := time.Now()
		_, err := th.chat()
		worst = max(worst, time.Since(start))
		require.ErrorIs(t, err, ErrNoHealthyEndpoint)
		assert.True(t, roundtripper.NotSent(err))
		for _, s := range th.srvs {
			assert.Contains(t, err.Error(), s.URL()+"/v1 (ejected: 1 failed probes in a row, last: status 502)")
		}
	}
	t.Logf("all endpoints out: %d calls, slowest failed in %v", calls, worst)
	assert.Less(t, worst, 100*time.Millisecond, "no dial, no timeout")
	assert.Equal(t, before, th.served(), "no call reached a server")
}

func TestTestserverUnauthorizedProbeDoesNotEject(t *testing.T) {
	th := newTSHarness(t, testserver.HTTP1, 2, Config{ProbeFailures: 1, ProbeHeader: http.Header{"Authorization": {"Bearer sk-test-secret"}}})
	th.faults.set(th.srvs[0].Addr(), &testserver.Fault{Status: http.StatusUnauthorized})
	for range 3 {
		th.round()
	}
	s := th.c.Stats()[0]
	assert.Equal(t, StateInService, s.State)
	assert.Equal(t, ProbeUnauthorized, s.LastProbe.Outcome)
	assert.Equal(t, 0, th.mustChat())
	reqs := th.srvs[0].Requests()
	require.NotEmpty(t, reqs)
	assert.Equal(t, "Bearer sk-test-secret", reqs[0].Header.Get("Authorization"), "probes carry the user's headers")
	assert.NotContains(t, s.Reason+s.LastProbe.Err, "sk-test-secret")
}

func TestTestserverPassiveEjectionAndHalfOpen(t *testing.T) {
	th := newTSHarness(t, testserver.HTTP1, 2, Config{Interval: -1, Cooldown: time.Minute})
	a := th.srvs[0]
	fail := testserver.Fault{Status: http.StatusServiceUnavailable}
	a.SetScript(fail, fail, fail, fail, fail, fail)
	for range 5 { // CallFailures defaults to 5
		_, err := th.chat()
		require.Error(t, err)
	}
	require.Equal(t, StateEjected, th.state(0))
	for range 3 {
		assert.Equal(t, 1, th.mustChat())
	}
	// Half-open: after the cooldown one trial goes to a; it fails (the
	// script's sixth 503) and a is out for twice as long.
	th.clk.Advance(time.Minute)
	_, err := th.chat()
	require.Error(t, err)
	assert.Equal(t, StateEjected, th.state(0))
	assert.Equal(t, th.clk.Now().Add(2*time.Minute), th.c.Stats()[0].TrialAt)
	assert.Equal(t, 1, th.mustChat())
	// The script is spent: the next trial succeeds and traffic returns.
	th.clk.Advance(2 * time.Minute)
	assert.Equal(t, 0, th.mustChat())
	assert.Equal(t, StateInService, th.state(0))
	assert.Equal(t, 0, th.mustChat())
	assert.Zero(t, th.probes(0)+th.probes(1), "probes are off")
}

func TestTestserverOtherHostsUntouched(t *testing.T) {
	th := newTSHarness(t, testserver.HTTP1, 2, Config{ProbeFailures: 1})
	other := testserver.New(t, testserver.Config{})
	for _, s := range th.srvs {
		th.faults.set(s.Addr(), &testserver.Fault{Status: http.StatusServiceUnavailable})
	}
	th.round()
	resp, err := th.client.Post(other.URL()+chatPath, "application/json", strings.NewReader(`{"model":"m"}`))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	reqs := other.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, chatPath, reqs[0].Path)
	assert.Zero(t, other.Stats().RequestsByPath["/v1/models"], "not probed")
}

func TestTestserverNoProbesAfterClose(t *testing.T) {
	th := newTSHarness(t, testserver.H2C, 2, Config{})
	th.round()
	require.NoError(t, th.c.Close())
	p0, p1 := th.probes(0), th.probes(1)
	th.clk.Advance(time.Hour)
	assert.Equal(t, p0, th.probes(0))
	assert.Equal(t, p1, th.probes(1))
}

// TestTestserverRealClock runs the probe-driven failover on the wall clock,
// with a short interval.
func TestTestserverRealClock(t *testing.T) {
	a := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
	b := testserver.New(t, testserver.Config{Protocol: testserver.H2C})
	tr := a.Transport()
	defer tr.CloseIdleConnections()
	faults := &probeFaults{next: tr}
	hc, err := New(Config{Endpoints: []string{a.URL(), b.URL()}, Interval: 20 * time.Millisecond, Timeout: time.Second, Transport: faults})
	require.NoError(t, err)
	client := &http.Client{Transport: roundtripper.Chain(tr, hc.Middleware())}
	faults.set(a.Addr(), &testserver.Fault{Status: http.StatusServiceUnavailable})
	require.Eventually(t, func() bool { return hc.Stats()[0].State == StateEjected }, 10*time.Second, 5*time.Millisecond)
	resp, err := client.Post(a.URL()+chatPath, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.EqualValues(t, 1, b.Stats().RequestsByPath[chatPath])
	faults.set(a.Addr(), nil)
	require.Eventually(t, func() bool { return hc.Stats()[0].State == StateInService }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, hc.Close())
	n := a.Stats().RequestsByPath["/v1/models"]
	assert.Never(t, func() bool { return a.Stats().RequestsByPath["/v1/models"] != n }, 100*time.Millisecond, 10*time.Millisecond,
		"no probe after Close")
}

// Concurrent calls while passive ejection closes the endpoint's idle
// connections: none may fail with an error (a 503 from a is a response).
func TestTestserverConcurrentEjectionNoErrors(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			th := newTSHarness(t, proto, 2, Config{Interval: -1})
			fail := testserver.Fault{Status: http.StatusServiceUnavailable}
			script := make([]testserver.Fault, 40)
			for i := range script {
				script[i] = fail
			}
			th.srvs[0].SetScript(script...)
			var wg sync.WaitGroup
			errs := make(chan error, 80)
			for range 8 {
				wg.Go(func() {
					for range 10 {
						resp, err := th.client.Post(th.srvs[0].URL()+chatPath, "application/json", strings.NewReader(`{"model":"m"}`))
						if err != nil {
							errs <- err
							continue
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			assert.Equal(t, StateEjected, th.state(0))
			assert.Positive(t, th.served()[1])
		})
	}
}

// Response-header timeouts are failures that may have reached the server:
// counted, never re-sent here.
func TestTestserverTimeoutsEject(t *testing.T) {
	th := newTSHarness(t, testserver.HTTP1, 2, Config{Interval: -1, CallFailures: 2})
	slow := testserver.Fault{HeaderDelay: 5 * time.Second}
	th.srvs[0].SetScript(slow, slow)
	base := th.srvs[0].Transport()
	base.ResponseHeaderTimeout = 50 * time.Millisecond
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: roundtripper.Chain(base, th.c.Middleware())}
	for range 2 {
		_, err := client.Post(th.srvs[0].URL()+chatPath, "application/json", strings.NewReader(`{}`))
		require.Error(t, err)
	}
	assert.Zero(t, th.served()[1], "a timed-out call is not re-sent to b")
	require.Equal(t, StateEjected, th.state(0))
	assert.Contains(t, th.c.Stats()[0].Reason, "timeout awaiting response headers")
	assert.Equal(t, 1, th.mustChat(), "(over a transport without the short timeout)")
}
