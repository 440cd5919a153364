package health

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustEndpoint(t testing.TB, i int, raw string) *endpoint {
	t.Helper()
	u, err := parseEndpoint(i, raw)
	require.NoError(t, err)
	return newEndpoint(i, u)
}

func TestRebase(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string
		req      string
		want     string
	}{
		{"root to root", "http://a:1", "http://b:2", "http://a:1/v1/chat/completions?x=1", "http://b:2/v1/chat/completions?x=1"},
		{"same base", "http://a:1/v1", "https://b/v1/", "http://a:1/v1/models", "https://b/v1/models"},
		{"different bases", "http://a:1/v1", "http://b:2/proxy/openai/v1", "http://a:1/v1/chat/completions", "http://b:2/proxy/openai/v1/chat/completions"},
		{"base itself", "http://a:1/v1", "http://b:2/x", "http://a:1/v1", "http://b:2/x"},
		{"outside the base", "http://a:1/v1", "http://b:2/x", "http://a:1/health", "http://b:2/health"},
		{"segment boundary", "http://a:1/v1", "http://b:2/x", "http://a:1/v10/m", "http://b:2/v10/m"},
		{"escaped path", "http://a:1/v1", "http://b:2/p", "http://a:1/v1/files/a%2Fb", "http://b:2/p/files/a%2Fb"},
		{"userinfo dropped", "http://a:1", "http://b:2", "http://u:p@a:1/x", "http://b:2/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := mustEndpoint(t, 0, tt.src), mustEndpoint(t, 1, tt.dst)
			u, err := url.Parse(tt.req)
			require.NoError(t, err)
			require.True(t, src.matchesHost(u))
			assert.Equal(t, tt.want, rebase(u, src, dst).String())
			assert.Equal(t, tt.req, u.String(), "the caller's URL is untouched")
		})
	}
}

func TestMatch(t *testing.T) {
	c, err := newChecker(Config{Endpoints: []string{
		"http://gw.test/eu/v1", "http://gw.test/us/v1", "https://API.test", "http://[::1]:8000",
	}, Interval: -1}, newFakeClock())
	require.NoError(t, err)
	defer c.Close()
	tests := []struct {
		req  string
		want int // endpoint index, -1 none
	}{
		{"http://gw.test/us/v1/chat", 1},
		{"http://gw.test:80/eu/v1/chat", 0},
		{"http://gw.test/other", 0},
		{"https://api.test:443/v1/models", 2},
		{"http://api.test/v1/models", -1},
		{"https://api.test:8443/v1/models", -1},
		{"http://[::1]:8000/v1", 3},
		{"http://[::1]:8001/v1", -1},
		{"http://other.test/v1", -1},
	}
	for _, tt := range tests {
		t.Run(tt.req, func(t *testing.T) {
			u, err := url.Parse(tt.req)
			require.NoError(t, err)
			ep := c.match(u)
			if tt.want < 0 {
				assert.Nil(t, ep)
				return
			}
			require.NotNil(t, ep)
			assert.Equal(t, tt.want, ep.index)
		})
	}
}

func TestProbeURL(t *testing.T) {
	tests := []struct{ base, path, want string }{
		{"http://h:1/v1", "", "http://h:1/v1/models"},
		{"http://h:1/v1", "/health", "http://h:1/health"},
		{"http://h:11434", "/api/version", "http://h:11434/api/version"},
		{"http://h:1/v1/", "models", "http://h:1/v1/models"},
		{"http://u:pw@h:1/v1?key=k", "models?x=1", "http://h:1/v1/models?x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.base+" "+tt.path, func(t *testing.T) {
			cfg := Config{ProbePath: tt.path}
			u, err := parseEndpoint(0, tt.base)
			require.NoError(t, err)
			got, err := probeURL(u, cfg.probePath())
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDisplayHidesSecrets(t *testing.T) {
	ep := mustEndpoint(t, 0, "https://user:s3cret@api.test/v1?api-key=s3cret")
	assert.Equal(t, "https://api.test/v1", ep.display)
}

func TestConfiguredProbe(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantMethod         string
		wantPath           string
	}{
		{"default", "", "", http.MethodGet, "/v1/models"},
		{"vllm", "", "/health", http.MethodGet, "/health"},
		{"ollama", "", "/api/version", http.MethodGet, "/api/version"},
		{"head root", http.MethodHead, "/", http.MethodHead, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 4)
			next := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				got <- req.Method + " " + req.URL.Path + " " + req.Header.Get("X-Api-Key")
				// Anything below 500 passes: a HEAD / on vLLM answers 404.
				return &http.Response{StatusCode: http.StatusNotFound, Body: http.NoBody}, nil
			})
			c, err := newChecker(Config{
				Endpoints: []string{"http://a.test/v1"}, ProbeMethod: tt.method, ProbePath: tt.path,
				ProbeHeader: http.Header{"X-Api-Key": {"k"}}, Transport: next,
			}, newFakeClock())
			require.NoError(t, err)
			assert.Equal(t, tt.wantMethod+" "+tt.wantPath+" k", <-got)
			require.Eventually(t, func() bool { return c.Stats()[0].LastProbe.Outcome != ProbeNone }, 10*time.Second, time.Millisecond)
			require.NoError(t, c.Close())
			s := c.Stats()[0]
			assert.Equal(t, ProbePassed, s.LastProbe.Outcome)
			assert.Equal(t, http.StatusNotFound, s.LastProbe.Status)
		})
	}
}

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:8000/v1", "https://u:pw@api.test/v1?k=1", "http://[::1]:1/", "ftp://x",
		"http://h:99999", "://", "http://a b", "https://h/%zz", "http://u:pw@[::1",
	} {
		f.Add(s, "/v1/chat/completions")
	}
	f.Fuzz(func(t *testing.T, raw, reqPath string) {
		u, err := parseEndpoint(0, raw)
		if err != nil {
			if i := strings.Index(raw, "://"); i >= 0 {
				auth := raw[i+3:]
				if j := strings.IndexAny(auth, "/?#"); j >= 0 {
					auth = auth[:j]
				}
				// Only when the userinfo's text appears nowhere else in raw
				// (in "u:pw://u:pw@" it is also the scheme part, which the
				// error may quote).
				if k := strings.LastIndex(auth, "@"); k > 0 && len(auth[:k]) >= 4 && strings.Count(raw, auth[:k]) == 1 {
					assert.NotContains(t, err.Error(), auth[:k], "userinfo leaked")
				}
			}
			return
		}
		ep := newEndpoint(0, u)
		// No userinfo in what is shown: the authority holds no "@" (a path
		// may, as in "http://0/@", which is not a credential).
		authority := ep.display
		if i := strings.Index(authority, "://"); i >= 0 {
			authority = authority[i+3:]
		}
		if j := strings.IndexAny(authority, "/?#"); j >= 0 {
			authority = authority[:j]
		}
		assert.NotContains(t, authority, "@", "userinfo shown in %q", ep.display)
		req, err := url.Parse(ep.display)
		if err != nil {
			return
		}
		req = req.JoinPath(reqPath)
		if !ep.matchesHost(req) {
			t.Fatalf("%q does not match its own endpoint %q", req, ep.display)
		}
		other := mustEndpoint(t, 1, "http://other.test:1/base")
		got := rebase(req, ep, other)
		assert.Equal(t, "other.test:1", got.Host)
		if hasPathPrefix(req.Path, ep.basePath) {
			assert.Equal(t, "/base"+req.Path[len(ep.basePath):], got.Path)
		} else {
			assert.Equal(t, req.Path, got.Path, "a path outside the base is kept")
		}
	})
}
