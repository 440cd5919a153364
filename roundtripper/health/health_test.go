package health

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/roundtripper"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		contains string
	}{
		{"no endpoints", Config{}, "no endpoints"},
		{"bad scheme", Config{Endpoints: []string{"http://ok:1", "ftp://files.example"}}, `endpoint 1 "ftp://files.example"`},
		{"no host", Config{Endpoints: []string{"http:///v1"}}, "no host"},
		{"no scheme", Config{Endpoints: []string{"localhost:8000"}}, `"localhost:8000"`},
		{"does not parse", Config{Endpoints: []string{"http://[::1"}}, `"http://[::1"`},
		{"bad port", Config{Endpoints: []string{"http://user:s3cret@host:99999/v1"}}, `"http://host:99999/v1"`},
		{"control char with password", Config{Endpoints: []string{"http://u:s3cret@ho\x7fst/"}}, "endpoint 0"},
		{"probe path with host", Config{Endpoints: []string{"http://ok:1"}, ProbePath: "http://other/health"}, "probe path"},
		{"bad probe method", Config{Endpoints: []string{"http://ok:1"}, ProbeMethod: "GE T"}, `probe method "GE T"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tt.contains)
			assert.NotContains(t, err.Error(), "s3cret")
			assert.True(t, strings.HasPrefix(err.Error(), "health: "), err.Error())
		})
	}
}

func TestStaysOnPreferredWhileHealthy(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}})
	for range 3 {
		for range 5 {
			assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))
		}
		h.round()
	}
	assert.EqualValues(t, 15, a.calls.Load())
	assert.Zero(t, b.calls.Load())
	assert.EqualValues(t, 4, a.probes.Load(), "warm-up and three rounds")
	assert.EqualValues(t, 4, b.probes.Load(), "standbys are probed too")
	for _, s := range h.c.Stats() {
		assert.Equal(t, StateInService, s.State)
		assert.Equal(t, ProbePassed, s.LastProbe.Outcome)
		assert.Equal(t, http.StatusOK, s.LastProbe.Status)
	}
}

func TestProbeFailureMovesTrafficWithoutFailedCall(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, 529} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			a, b := newReplica(t, "a"), newReplica(t, "b")
			var mu sync.Mutex
			var changes []StateChange
			h := newHarness(t, Config{
				Endpoints:     []string{a.URL, b.URL},
				OnStateChange: func(sc StateChange) { mu.Lock(); changes = append(changes, sc); mu.Unlock() },
			})
			assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))

			a.probeStatus.Store(int32(status))
			h.round() // one failed probe: still in (ProbeFailures defaults to 2)
			assert.Equal(t, StateInService, h.state(0))
			assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))
			h.round()
			assert.Equal(t, StateEjected, h.state(0))
			for range 5 {
				assert.Equal(t, "b", h.mustGet(a.URL+"/v1/chat/completions"))
			}
			s := h.c.Stats()[0]
			assert.Equal(t, 2, s.ConsecutiveProbeFailures)
			assert.Equal(t, ProbeFailed, s.LastProbe.Outcome)
			assert.Equal(t, status, s.LastProbe.Status)
			assert.Equal(t, 1, s.Ejections)
			assert.Contains(t, s.Reason, "2 failed probes in a row")

			// Recovery moves traffic back.
			a.probeStatus.Store(0)
			h.round()
			assert.Equal(t, StateInService, h.state(0))
			assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))

			mu.Lock()
			defer mu.Unlock()
			require.Len(t, changes, 2)
			assert.Equal(t, StateChange{Endpoint: a.URL, From: StateInService, To: StateEjected,
				Reason: "2 failed probes in a row, last: status " + strconv.Itoa(status), Time: changes[0].Time}, changes[0])
			assert.Equal(t, StateEjected, changes[1].From)
			assert.Equal(t, StateInService, changes[1].To)
		})
	}
}

func TestProbeTimeoutFails(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}, ProbeFailures: 1})
	hang := make(chan struct{})
	a.mu.Lock()
	a.probeHang = hang
	a.mu.Unlock()
	defer close(hang)

	h.waitAsleep()
	h.clk.Advance(h.interval * 12 / 10)
	// b's loop goes back to sleep; a's probe hangs until its timeout fires.
	require.Eventually(t, func() bool { return h.clk.WaitingFor(testTimeout) == 1 && a.probes.Load() == 2 },
		10*time.Second, time.Millisecond)
	h.clk.Advance(testTimeout)
	h.waitAsleep()
	s := h.c.Stats()[0]
	assert.Equal(t, StateEjected, s.State)
	assert.Equal(t, "timeout after 1s", s.LastProbe.Err)
	assert.Equal(t, "b", h.mustGet(a.URL+"/x"))
}

func TestUnauthorizedProbeDoesNotEject(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	a.probeStatus.Store(http.StatusUnauthorized)
	var logs bytes.Buffer
	h := newHarness(t, Config{
		Endpoints:   []string{a.URL, b.URL},
		ProbeHeader: http.Header{"Authorization": {"Bearer sk-secret-key"}},
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for range 4 {
		h.round()
	}
	s := h.c.Stats()[0]
	assert.Equal(t, StateInService, s.State)
	assert.Equal(t, ProbeUnauthorized, s.LastProbe.Outcome)
	assert.Equal(t, http.StatusUnauthorized, s.LastProbe.Status)
	assert.Zero(t, s.ConsecutiveProbeFailures)
	assert.Zero(t, s.Ejections)
	assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))

	a.mu.Lock()
	assert.Equal(t, "Bearer sk-secret-key", a.lastAuth, "probes carry the user's headers")
	a.mu.Unlock()
	h.c.Close()
	out := logs.String()
	assert.Equal(t, 1, countIn(out, "credentials rejected"), "reported once, not every round: %s", out)
	assert.NotContains(t, out, "sk-secret-key")
	assert.NotContains(t, strings.ToLower(out), "bearer")
}

func TestClosedListenerFailsOverWithinTheCall(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}})
	assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))

	a.Close()
	resp, err := h.client.Post(a.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"n":1}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "b", string(body), "the very next call moved to b")
	path, sent := b.last()
	assert.Equal(t, "/v1/chat/completions", path)
	assert.Equal(t, `{"n":1}`, sent, "the body was re-sent through GetBody")
	assert.Equal(t, 1, h.c.Stats()[0].ConsecutiveFailures)
	assert.Equal(t, StateInService, h.state(0), "one refusal does not eject")

	// Passive ejection after CallFailures (5) refusals; each call still lands on b.
	for range 4 {
		assert.Equal(t, "b", h.mustGet(a.URL+"/v1/chat/completions"))
	}
	assert.Equal(t, StateEjected, h.state(0))
	assert.Contains(t, h.c.Stats()[0].Reason, "5 failed calls in a row")
}

func TestAllDownFailsFast(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL + "/v1", b.URL + "/v1"}, ProbeFailures: 1})
	a.probeStatus.Store(http.StatusServiceUnavailable)
	b.Close()
	h.round()
	require.Equal(t, StateEjected, h.state(0))
	require.Equal(t, StateEjected, h.state(1))

	req, err := http.NewRequest(http.MethodPost, a.URL+"/v1/chat/completions", strings.NewReader("{}"))
	require.NoError(t, err)
	start := time.Now()
	resp, err := h.client.Do(req)
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.Nil(t, resp)
	t.Logf("all down: failed in %v", elapsed)
	assert.Less(t, elapsed, 250*time.Millisecond, "no dial, no timeout")
	assert.ErrorIs(t, err, ErrNoHealthyEndpoint)
	assert.True(t, roundtripper.NotSent(err))
	assert.True(t, roundtripper.Rejected(err), "every endpoint was out before the call: retry must not wait it out")
	var ue *UnavailableError
	require.ErrorAs(t, err, &ue)
	require.Len(t, ue.Endpoints, 2)
	assert.Equal(t, a.URL+"/v1", ue.Endpoints[0].Endpoint)
	assert.Equal(t, "ejected: 1 failed probes in a row, last: status 503", ue.Endpoints[0].Reason)
	assert.Contains(t, ue.Endpoints[1].Reason, "connection refused")
	assert.Contains(t, err.Error(), a.URL+"/v1 (ejected: 1 failed probes in a row, last: status 503)")
	assert.Zero(t, a.calls.Load())
}

func TestAllRefusingWithinOneCall(t *testing.T) {
	a, b := closedURL(t), closedURL(t)
	h := newHarness(t, Config{Endpoints: []string{a, b}, Interval: -1})
	_, _, err := h.get(a + "/v1/chat/completions")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrNoHealthyEndpoint)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "unwraps to the last error")
	assert.True(t, roundtripper.NotSent(err))
	assert.False(t, roundtripper.Rejected(err), "this call met network errors: retry may back off and try again")
	assert.Contains(t, err.Error(), b+" (this call: ")
	for _, s := range h.c.Stats() {
		assert.Equal(t, 1, s.ConsecutiveFailures)
	}
}

func TestOtherHostsPassThrough(t *testing.T) {
	a, b, other := newReplica(t, "a"), newReplica(t, "b"), newReplica(t, "other")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}, ProbeFailures: 1})
	a.probeStatus.Store(http.StatusServiceUnavailable)
	b.probeStatus.Store(http.StatusServiceUnavailable)
	h.round()
	assert.Equal(t, "other", h.mustGet(other.URL+"/v1/chat/completions"))
	path, _ := other.last()
	assert.Equal(t, "/v1/chat/completions", path)
	_, _, err := h.get(b.URL + "/v1/chat/completions")
	assert.ErrorIs(t, err, ErrNoHealthyEndpoint)
}

func TestCloseStopsProbes(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}})
	h.round()
	require.NoError(t, h.c.Close())
	require.NoError(t, h.c.Close(), "idempotent")
	na, nb := a.probes.Load(), b.probes.Load()
	h.clk.Advance(10 * testInterval)
	assert.Zero(t, h.clk.Waiting(0), "no timer left armed")
	assert.Equal(t, na, a.probes.Load())
	assert.Equal(t, nb, b.probes.Load())
	// The middleware still routes after Close.
	assert.Equal(t, "a", h.mustGet(a.URL+"/x"))
}

func TestAfterCloseEjectedEndpointsComeBackByTrial(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}, ProbeFailures: 1})
	a.probeStatus.Store(http.StatusServiceUnavailable)
	h.round()
	require.Equal(t, StateEjected, h.state(0))
	assert.Equal(t, "b", h.mustGet(a.URL+"/x"))
	require.NoError(t, h.c.Close())
	// No probe will bring a back now: the next call is a trial, and it passes.
	assert.Equal(t, "a", h.mustGet(a.URL+"/x"))
	assert.Equal(t, StateInService, h.state(0))
}

func TestCloseStopsProbesRealClock(t *testing.T) {
	a := newReplica(t, "a")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := New(Config{Endpoints: []string{a.URL}, Interval: 5 * time.Millisecond, Transport: tr})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.probes.Load() >= 3 }, 10*time.Second, time.Millisecond)
	require.NoError(t, c.Close())
	n := a.probes.Load()
	assert.Never(t, func() bool { return a.probes.Load() != n }, 100*time.Millisecond, 5*time.Millisecond)
}

func TestPassiveEjectionAndHalfOpen(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	var changes []StateChange
	var mu sync.Mutex
	h := newHarness(t, Config{
		Endpoints:     []string{a.URL, b.URL},
		Interval:      -1,
		CallFailures:  3,
		Cooldown:      time.Minute,
		MaxCooldown:   3 * time.Minute,
		OnStateChange: func(sc StateChange) { mu.Lock(); changes = append(changes, sc); mu.Unlock() },
	})
	a.callStatus.Store(http.StatusInternalServerError)
	for range 3 {
		code, body, err := h.get(a.URL + "/v1/chat/completions")
		require.NoError(t, err, "a 5xx is a response, not an error")
		assert.Equal(t, http.StatusInternalServerError, code)
		assert.Equal(t, "a", body)
	}
	assert.Equal(t, StateEjected, h.state(0))
	assert.Equal(t, "b", h.mustGet(a.URL+"/v1/chat/completions"))
	assert.Equal(t, h.clk.Now().Add(time.Minute), h.c.Stats()[0].TrialAt)
	assert.Zero(t, a.probes.Load()+b.probes.Load(), "probes are off")

	// The cooldown has not passed: still b.
	h.clk.Advance(59 * time.Second)
	assert.Equal(t, "b", h.mustGet(a.URL+"/v1/chat/completions"))

	// Cooldown over: one trial call goes to a, fails, and a is out for twice as long.
	h.clk.Advance(time.Second)
	code, _, err := h.get(a.URL + "/v1/chat/completions")
	require.NoError(t, err)
	assert.Equal(t, http.StatusInternalServerError, code)
	s := h.c.Stats()[0]
	assert.Equal(t, StateEjected, s.State)
	assert.Equal(t, h.clk.Now().Add(2*time.Minute), s.TrialAt)
	assert.Contains(t, s.Reason, "trial call failed: status 500")

	// Twice as long, then capped at MaxCooldown.
	h.clk.Advance(2 * time.Minute)
	_, _, _ = h.get(a.URL + "/v1/chat/completions")
	assert.Equal(t, h.clk.Now().Add(3*time.Minute), h.c.Stats()[0].TrialAt)

	// a heals: the next trial brings it back and traffic returns.
	a.callStatus.Store(0)
	h.clk.Advance(3 * time.Minute)
	assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))
	assert.Equal(t, StateInService, h.state(0))
	assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))
	assert.Equal(t, 3, h.c.Stats()[0].Ejections)

	mu.Lock()
	defer mu.Unlock()
	var path []State
	for _, c := range changes {
		path = append(path, c.To)
	}
	assert.Equal(t, []State{StateEjected, StateHalfOpen, StateEjected, StateHalfOpen, StateEjected, StateHalfOpen, StateInService}, path)
}

func TestCooldownGrowthRestartsAfterStayingIn(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}, Interval: -1, CallFailures: 1, Cooldown: time.Minute, MaxCooldown: 4 * time.Minute})
	eject := func() time.Duration {
		a.callStatus.Store(http.StatusBadGateway)
		_, _, _ = h.get(a.URL)
		require.Equal(t, StateEjected, h.state(0))
		return h.c.Stats()[0].TrialAt.Sub(h.clk.Now())
	}
	heal := func(after time.Duration) {
		a.callStatus.Store(0)
		h.clk.Advance(after)
		require.Equal(t, "a", h.mustGet(a.URL))
	}
	assert.Equal(t, time.Minute, eject())
	heal(time.Minute)
	assert.Equal(t, 2*time.Minute, eject(), "ejected again soon after: longer")
	heal(2 * time.Minute)
	h.clk.Advance(4 * time.Minute) // stays in service for MaxCooldown
	assert.Equal(t, time.Minute, eject(), "the growth restarts")
}

func TestHalfOpenLetsOneTrialThrough(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 8)
	var mu sync.Mutex
	status := http.StatusServiceUnavailable
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		s := status
		mu.Unlock()
		if req.URL.Host == "a.test" && s == http.StatusOK {
			entered <- struct{}{}
			<-block
		}
		return &http.Response{StatusCode: s, Body: http.NoBody, Request: req}, nil
	})
	clk := newFakeClock()
	c, err := newChecker(Config{Endpoints: []string{"http://a.test", "http://b.test"}, Interval: -1, CallFailures: 1}, clk)
	require.NoError(t, err)
	defer c.Close()
	rt := c.Middleware()(next)
	do := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://a.test/x", nil)
		return rt.RoundTrip(req)
	}
	resp, err := do()
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	// b fails too: both out, with probes off.
	resp, err = do()
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	_, err = do()
	require.ErrorIs(t, err, ErrNoHealthyEndpoint)
	assert.Contains(t, err.Error(), "trial in 5s")

	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	clk.Advance(5 * time.Second)
	done := make(chan error, 1)
	go func() {
		resp, err := do()
		if err == nil {
			assert.Equal(t, "a.test", resp.Request.URL.Host)
		}
		done <- err
	}()
	<-entered
	// While a's trial is in flight, b (also cooled down) takes its own trial,
	// and a third call finds nothing.
	resp, err = do()
	require.NoError(t, err)
	assert.Equal(t, "b.test", resp.Request.URL.Host)
	assert.Equal(t, StateHalfOpen, c.Stats()[0].State)
	close(block)
	require.NoError(t, <-done)
	assert.Equal(t, StateInService, c.Stats()[0].State)
	assert.Equal(t, StateInService, c.Stats()[1].State)
}

func TestCallClassification(t *testing.T) {
	replay := replayErr{}
	tests := []struct {
		name     string
		status   int
		err      error
		counted  bool // a health failure
		failover bool // moved on to b within the call
	}{
		{"ok", http.StatusOK, nil, false, false},
		{"429", http.StatusTooManyRequests, nil, false, false},
		{"401", http.StatusUnauthorized, nil, false, false},
		{"400", http.StatusBadRequest, nil, false, false},
		{"500", http.StatusInternalServerError, nil, true, false},
		{"503", http.StatusServiceUnavailable, nil, true, false},
		{"529", 529, nil, true, false},
		{"reset after sending", 0, syscall.ECONNRESET, true, false},
		{"unexpected EOF", 0, io.ErrUnexpectedEOF, true, false},
		{"stalled before first token", 0, replay, true, false},
		{"refused", 0, syscall.ECONNREFUSED, true, true},
		{"dial says not sent", 0, &net.OpError{Op: "dial", Net: "tcp", Err: notSentErr{}}, true, true},
		{"local refusal", 0, notSentErr{}, false, true},
		{"pool wait timed out", 0, fmt.Errorf("%w: %w", notSentErr{}, context.DeadlineExceeded), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hosts []string
			next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
				hosts = append(hosts, req.URL.Host)
				if req.URL.Host == "a.test" {
					if tt.err != nil {
						return nil, tt.err
					}
					return &http.Response{StatusCode: tt.status, Body: http.NoBody}, nil
				}
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
			})
			c, err := newChecker(Config{Endpoints: []string{"http://a.test", "http://b.test"}, Interval: -1, CallFailures: 2}, newFakeClock())
			require.NoError(t, err)
			defer c.Close()
			rt := c.Middleware()(next)
			for range 2 {
				req, _ := http.NewRequest(http.MethodGet, "http://a.test/", nil)
				resp, err := rt.RoundTrip(req)
				if tt.err != nil && !tt.failover {
					assert.ErrorIs(t, err, tt.err)
				} else {
					require.NoError(t, err)
					require.NotNil(t, resp)
				}
			}
			if tt.failover {
				assert.Equal(t, []string{"a.test", "b.test", "a.test", "b.test"}, hosts)
			} else if tt.counted {
				assert.Equal(t, []string{"a.test", "a.test"}, hosts)
			}
			want, failures := StateInService, 0
			if tt.counted {
				want, failures = StateEjected, 2
			}
			assert.Equal(t, want, c.Stats()[0].State)
			assert.Equal(t, failures, c.Stats()[0].ConsecutiveFailures)
		})
	}
}

type replayErr struct{}

func (replayErr) Error() string    { return "sse: no first token within 15s" }
func (replayErr) Replayable() bool { return true }

type notSentErr struct{}

func (notSentErr) Error() string { return "transport: pool timeout" }
func (notSentErr) NotSent() bool { return true }

func TestCanceledCallIsNotCounted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		cancel()
		return nil, req.Context().Err()
	})
	c, err := newChecker(Config{Endpoints: []string{"http://a.test", "http://b.test"}, Interval: -1, CallFailures: 1}, newFakeClock())
	require.NoError(t, err)
	defer c.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://a.test/", strings.NewReader("x"))
	_, err = c.Middleware()(next).RoundTrip(req)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, StateInService, c.Stats()[0].State)
	assert.Zero(t, c.Stats()[0].ConsecutiveFailures)
}

func TestNoFailoverWithoutGetBody(t *testing.T) {
	var hosts []string
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		hosts = append(hosts, req.URL.Host)
		return nil, syscall.ECONNREFUSED
	})
	c, err := newChecker(Config{Endpoints: []string{"http://a.test", "http://b.test"}, Interval: -1}, newFakeClock())
	require.NoError(t, err)
	defer c.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://a.test/", io.NopCloser(strings.NewReader("x")))
	require.Nil(t, req.GetBody)
	_, err = c.Middleware()(next).RoundTrip(req)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Equal(t, []string{"a.test"}, hosts)
}

func TestTLSHandshakeFailureFailsOver(t *testing.T) {
	plain, b := newReplica(t, "plain"), newReplica(t, "b")
	// https to a plain-HTTP listener: the handshake fails on the first record.
	httpsA := "https://" + plain.Listener.Addr().String()
	h := newHarness(t, Config{Endpoints: []string{httpsA, b.URL}, Interval: -1})
	assert.Equal(t, "b", h.mustGet(httpsA+"/v1/chat/completions"))
	assert.Equal(t, 1, h.c.Stats()[0].ConsecutiveFailures)
}

func TestDNSFailureFailsOver(t *testing.T) {
	b := newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{"http://no-such-host.invalid:8000", b.URL}, Interval: -1})
	assert.Equal(t, "b", h.mustGet("http://no-such-host.invalid:8000/v1/x"))
	assert.Equal(t, 1, h.c.Stats()[0].ConsecutiveFailures)
}

type emptyErr struct{}

func (emptyErr) Error() string { return "" }
func (emptyErr) NotSent() bool { return true }

func TestFailoverWithEmptyErrorText(t *testing.T) {
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) { return nil, emptyErr{} })
	c, err := newChecker(Config{Endpoints: []string{"http://a.test", "http://b.test"}, Interval: -1}, newFakeClock())
	require.NoError(t, err)
	defer c.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://a.test/", nil)
	_, err = c.Middleware()(next).RoundTrip(req)
	assert.ErrorIs(t, err, ErrNoHealthyEndpoint)
	assert.Contains(t, err.Error(), "this call: health.emptyErr")
}

// A server that closed its idle keep-alive connections (but still listens)
// leaves stale ones in the pool: the call retries the same endpoint on a fresh
// connection and does not count a failure.
func TestKeepAliveRaceStaysOnEndpoint(t *testing.T) {
	a := newReplica(t, "a")
	h := newHarness(t, Config{Endpoints: []string{a.URL}, Interval: -1, CallFailures: 1})
	for range 20 {
		assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))
		a.CloseClientConnections()
		resp, err := h.client.Post(a.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, StateInService, h.state(0))
	}
}

// A stale connection that the retry meets again (every pooled connection
// dead) moves on instead of looping.
func TestStaleConnectionRetriedOnce(t *testing.T) {
	var hosts []string
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		hosts = append(hosts, req.URL.Host)
		if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && req.URL.Host == "a.test" {
			tr.GotConn(httptrace.GotConnInfo{Conn: &fakeConn{}, Reused: true, WasIdle: true})
			return nil, io.EOF
		}
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})
	c, err := newChecker(Config{Endpoints: []string{"http://a.test", "http://b.test"}, Interval: -1}, newFakeClock())
	require.NoError(t, err)
	defer c.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://a.test/", strings.NewReader("x"))
	resp, err := c.Middleware()(next).RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"a.test", "a.test", "b.test"}, hosts)
	assert.Equal(t, 1, c.Stats()[0].ConsecutiveFailures, "the first stale connection is not counted")
}

// A caller's deadline that runs out in a layer's queue below (a rate
// limiter's wait) says nothing about the endpoint.
func TestDeadlineInLocalQueueIsNotCounted(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	next := roundtripper.Func(func(req *http.Request) (*http.Response, error) {
		<-req.Context().Done() // queued until the deadline
		return nil, fmt.Errorf("%w: %w", notSentErr{}, req.Context().Err())
	})
	c, err := newChecker(Config{Endpoints: []string{"http://a.test"}, Interval: -1, CallFailures: 1}, newFakeClock())
	require.NoError(t, err)
	defer c.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://a.test/", nil)
	_, err = c.Middleware()(next).RoundTrip(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, StateInService, c.Stats()[0].State)
	assert.Zero(t, c.Stats()[0].ConsecutiveFailures)
}
