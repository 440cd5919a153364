package health

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEjectionClosesIdleConnections(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}})
	// The warm-up probe left a pooled connection the first call reuses.
	require.EqualValues(t, 1, a.newConns.Load())
	assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))
	assert.EqualValues(t, 1, a.newConns.Load(), "the call found the warm connection")
	assert.Equal(t, 1, h.c.Stats()[0].IdleConns)

	a.probeStatus.Store(http.StatusServiceUnavailable)
	h.round()
	h.round()
	require.Equal(t, StateEjected, h.state(0))
	require.Eventually(t, func() bool { return a.closedConns.Load() >= 1 }, 10*time.Second, time.Millisecond,
		"the idle connection to the ejected endpoint was closed")
	assert.Zero(t, h.c.Stats()[0].IdleConns)
	bConns := b.closedConns.Load()

	a.probeStatus.Store(0)
	h.round()
	require.Equal(t, StateInService, h.state(0))
	before := a.newConns.Load()
	assert.Equal(t, "a", h.mustGet(a.URL+"/v1/chat/completions"))
	assert.Greater(t, a.newConns.Load(), int64(1), "recovery started on a fresh connection")
	assert.LessOrEqual(t, a.newConns.Load(), before+1)
	assert.Equal(t, bConns, b.closedConns.Load(), "b's pool was not touched")
}

func TestBusyConnectionSurvivesEjectionUntilReleased(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}, Interval: -1, CallFailures: 1})
	resp, err := h.client.Get(a.URL + "/v1/chat/completions")
	require.NoError(t, err)
	assert.Equal(t, 1, h.c.Stats()[0].BusyConns)

	// Another call fails (b is fine, a answers 500) and ejects a while the
	// first body is still unread.
	a.callStatus.Store(http.StatusInternalServerError)
	code, _, err := h.get(a.URL + "/v1/chat/completions")
	require.NoError(t, err)
	require.Equal(t, http.StatusInternalServerError, code)
	require.Equal(t, StateEjected, h.state(0))

	// The connection in use was not cut: its body still reads in full.
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "a connection in use is not cut")
	assert.Equal(t, "a", string(body))
	require.NoError(t, resp.Body.Close())
	// Both connections, busy at the ejection, are closed once released.
	require.Eventually(t, func() bool { return a.closedConns.Load() >= 2 }, 10*time.Second, time.Millisecond,
		"closed once released")
	s := h.c.Stats()[0]
	assert.Zero(t, s.BusyConns+s.IdleConns)
}

func TestSwitchingProtocolsBodyStaysWritable(t *testing.T) {
	conn := &fakeConn{}
	next := http.RoundTripper(roundTripFunc(func(req *http.Request) (*http.Response, error) {
		a := attemptFrom(req)
		a(conn)
		return &http.Response{StatusCode: http.StatusSwitchingProtocols, Body: rwc{}}, nil
	}))
	c, err := newChecker(Config{Endpoints: []string{"http://a.test"}, Interval: -1}, newFakeClock())
	require.NoError(t, err)
	defer c.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://a.test/ws", nil)
	resp, err := c.Middleware()(next).RoundTrip(req)
	require.NoError(t, err)
	_, ok := resp.Body.(io.Writer)
	assert.True(t, ok, "a 101 body must stay an io.Writer")
	s := c.Stats()[0]
	assert.Zero(t, s.BusyConns+s.IdleConns, "a hijacked connection is not ours")
}

func TestEjectionClosesIdleHTTP2Connection(t *testing.T) {
	a, b := newReplicaTLS(t, "a"), newReplicaTLS(t, "b")
	tr := a.Client().Transport.(*http.Transport)
	// httptest servers share one certificate, so a's transport trusts b too.
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}, Transport: tr})
	h.client.Transport = h.c.Middleware()(tr)
	t.Cleanup(tr.CloseIdleConnections)

	resp, err := h.client.Get(a.URL + "/v1/chat/completions")
	require.NoError(t, err)
	assert.Equal(t, 2, resp.ProtoMajor)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.EqualValues(t, 1, a.newConns.Load(), "probe and call share one HTTP/2 connection")

	a.probeStatus.Store(http.StatusServiceUnavailable)
	h.round()
	h.round()
	require.Equal(t, StateEjected, h.state(0))
	require.Eventually(t, func() bool { return a.closedConns.Load() >= 1 }, 10*time.Second, time.Millisecond)
	code, body, err := h.get(a.URL + "/v1/chat/completions")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "b", body)
}

func TestUntrustedCertificateFailsOver(t *testing.T) {
	a, b := newReplicaTLS(t, "a"), newReplica(t, "b")
	// h's own transport does not trust a's certificate.
	h := newHarness(t, Config{Endpoints: []string{a.URL, b.URL}, Interval: -1})
	assert.Equal(t, "b", h.mustGet(a.URL+"/v1/chat/completions"))
	assert.Equal(t, 1, h.c.Stats()[0].ConsecutiveFailures)
}

func TestCloseClosesIdleProbeConnections(t *testing.T) {
	a := newReplica(t, "a")
	// Transport nil: the probes use http.DefaultTransport, whose pool is
	// not the checker's to keep connections in after Close.
	c, err := New(Config{Endpoints: []string{a.URL}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.Stats()[0].LastProbe.Outcome == ProbePassed }, 10*time.Second, time.Millisecond)
	require.EqualValues(t, 1, a.newConns.Load())
	require.NoError(t, c.Close())
	require.Eventually(t, func() bool { return a.closedConns.Load() == 1 }, 10*time.Second, time.Millisecond)
	s := c.Stats()[0]
	assert.Zero(t, s.IdleConns+s.BusyConns)
}
