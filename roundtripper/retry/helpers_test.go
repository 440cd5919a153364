package retry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTime replaces the transport's clock and sleep: waits are recorded and
// advance the clock instead of passing.
type fakeTime struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.now = f.now.Add(d)
	f.mu.Unlock()
	return nil
}

func (f *fakeTime) Waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

// newTest builds the decorator over next with a fake clock (starting at the
// real now, so that HTTP-dates and context deadlines make sense) and
// returns both. The budget, if any, uses the same clock.
func newTest(t testing.TB, cfg Config, next http.RoundTripper) (*transport, *fakeTime) {
	t.Helper()
	ft := &fakeTime{now: time.Now()}
	rt := New(cfg)(next).(*transport)
	rt.now, rt.sleep = ft.Now, ft.Sleep
	if rt.budget != nil && cfg.Budget == nil {
		start := ft.Now()
		rt.budget.clock = func() time.Duration { return ft.Now().Sub(start) }
	}
	return rt, ft
}

// server starts a testserver over HTTP/1.1 and returns it with a transport
// of its own, closed at the end of the test.
func server(t testing.TB, cfg testserver.Config) (*testserver.Server, *http.Transport) {
	t.Helper()
	srv := testserver.New(t, cfg)
	tr := srv.Transport()
	t.Cleanup(tr.CloseIdleConnections)
	return srv, tr
}

const chatBody = `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`

// post builds a chat completion request with a rewindable body.
func post(t testing.TB, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(chatBody))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test-secret-key-0123456789abcdef")
	return req
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// recorder collects the attempts reported to Config.OnAttempt.
type recorder struct {
	mu sync.Mutex
	as []Attempt
}

func (r *recorder) hook(a Attempt) {
	r.mu.Lock()
	r.as = append(r.as, a)
	r.mu.Unlock()
}

func (r *recorder) all() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.as...)
}
