package transport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

// forwardProxy is a loopback HTTP forward proxy that sends every request it
// gets, whatever its host, to backend, and counts them.
type forwardProxy struct {
	*httptest.Server
	seen atomic.Int64
	host atomic.Value // the Host of the last request, as the client wrote it
}

func newForwardProxy(t *testing.T, backend string) *forwardProxy {
	p := &forwardProxy{}
	up := &http.Transport{}
	t.Cleanup(up.CloseIdleConnections)
	target, err := url.Parse(backend)
	require.NoError(t, err)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.seen.Add(1)
		p.host.Store(r.URL.Host)
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = target.Scheme, target.Host
		resp, err := up.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

// llmHost is a name that resolves nowhere: only the proxy can reach it.
const llmHost = "llm.test:8080"

func TestProxyHook(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	proxy := newForwardProxy(t, srv.URL())
	pu, err := url.Parse(proxy.URL)
	require.NoError(t, err)
	tr := New(Config{Proxy: http.ProxyURL(pu)})
	defer tr.CloseIdleConnections()

	require.NoError(t, call(t.Context(), tr, "http://"+llmHost))
	assert.Equal(t, int64(1), proxy.seen.Load())
	assert.Equal(t, llmHost, proxy.host.Load())
	assert.Equal(t, int64(1), srv.Stats().Requests)
	st := tr.Stats()
	assert.Equal(t, int64(1), st.Hosts[pu.Host].ConnsOpened, "connections count against the proxy's address")
	assert.Contains(t, st.Hosts, llmHost, "requests count against the URL's host")
}

// TestProxyFromEnvironment checks the default Proxy, http.ProxyFromEnvironment,
// which reads the environment once per process: so the call runs in a child
// process started with HTTP_PROXY set.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("LLMHTTP_PROXY_CHILD") != "" {
		t.Skip("in the child")
	}
	srv := testserver.New(t, testserver.Config{})
	proxy := newForwardProxy(t, srv.URL())

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestProxyFromEnvironmentChild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"LLMHTTP_PROXY_CHILD=1",
		"HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL,
		"NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child: %s", out)
	assert.Contains(t, string(out), "PASS")
	assert.Equal(t, int64(1), proxy.seen.Load(), "the call went through the proxy from the environment")
	assert.Equal(t, llmHost, proxy.host.Load())
	assert.Equal(t, int64(1), srv.Stats().Requests)
}

func TestProxyFromEnvironmentChild(t *testing.T) {
	if os.Getenv("LLMHTTP_PROXY_CHILD") == "" {
		t.Skip("runs only in the child process of TestProxyFromEnvironment")
	}
	tr := New(Config{})
	defer tr.CloseIdleConnections()
	require.NoError(t, call(t.Context(), tr, "http://"+llmHost))
}
