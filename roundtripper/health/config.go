package health

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Checker. The zero value of every field but Endpoints is
// useful; New copies the Config, so later changes to it have no effect.
type Config struct {
	// Endpoints are the base URLs of interchangeable replicas, most
	// preferred first, such as "http://10.0.0.1:8000/v1". Each needs an
	// http or https scheme and a host. Requests match an endpoint on
	// scheme and host:port (default ports filled in); when several
	// endpoints share a host:port, the one with the longest base path
	// that prefixes the request path is matched. A query or userinfo in
	// an endpoint is ignored and never shown in errors, logs or stats.
	// At least one is required.
	Endpoints []string

	// Interval is the time between two active probes of one endpoint,
	// jittered by ±10% so replicas are not probed in lockstep. Zero means
	// 30s; negative disables active probes, including the warm-up round
	// New otherwise starts at once, and turns on half-open trials (see
	// Cooldown).
	Interval time.Duration

	// Timeout bounds one probe, from sending it to reading its answer.
	// Zero means 5s.
	Timeout time.Duration

	// ProbeMethod is the probe's HTTP method. Empty means GET; HEAD also
	// works, as any answer below 500 counts as the server being up.
	ProbeMethod string

	// ProbePath is what is probed on each endpoint. A path starting with
	// "/" is taken from the host's root: the default "/v1/models" suits
	// OpenAI-compatible servers whatever the endpoint's base path; vLLM and
	// llama.cpp also answer "/health", Ollama "/api/version". A path
	// without a leading "/" is joined to the endpoint's base path
	// ("models" probes http://host/v1/models for endpoint http://host/v1).
	// Empty means "/v1/models".
	ProbePath string

	// ProbeHeader is sent with every probe, typically the API key
	// (Authorization or x-api-key) so that probes see what real calls see.
	// Its values never appear in errors, logs or stats. Nil means none.
	ProbeHeader http.Header

	// ProbeFailures is how many failed probes in a row (a 5xx or 529, a
	// timeout, a connection error) take an endpoint out of service; 1 to 3
	// are sensible. Zero means 2. A passing probe (any answer below 500)
	// puts an endpoint back in service, whatever took it out. A 401 or 403
	// means the server is up but the credentials are wrong: it passes, and
	// is reported in Stats and the log.
	ProbeFailures int

	// CallFailures is how many real calls in a row may fail (a connection
	// error, a 5xx or 529, a timeout, a stream that stalled before its
	// first token) before the endpoint is ejected, without waiting for a
	// probe, like Envoy's outlier detection. A 429 or any other answer
	// below 500 is not a failure: the server is alive; nor is the caller
	// cancelling, or a layer below refusing to send (a rate limiter, a
	// full pool). Zero means 5; negative disables passive ejection.
	CallFailures int

	// Cooldown is how long an ejected endpoint stays out when probes are
	// disabled, before one trial call is let through (half-open): if it
	// succeeds the endpoint is back, if it fails the endpoint is ejected
	// again for twice as long, up to MaxCooldown. The growth restarts once
	// an endpoint has stayed in service for MaxCooldown. With probes on,
	// only a passing probe brings an endpoint back (until Close, after
	// which trials take over). Zero means 5s: short, because a trial is
	// one call, one that is refused still fails over within the call, and
	// repeated failures lengthen it quickly.
	Cooldown time.Duration

	// MaxCooldown caps the growing cooldown. Zero means 5 minutes.
	MaxCooldown time.Duration

	// Transport sends the probes. Nil means http.DefaultTransport. Set it
	// to the transport at the bottom of the client's chain so that the
	// first probe round warms the connections real calls will use.
	Transport http.RoundTripper

	// OnStateChange, when not nil, is called after every change of an
	// endpoint's state, synchronously from the goroutine that caused it
	// (a probe or a call) and without any lock held; changes of different
	// endpoints may be reported from several goroutines at once. It must
	// not block.
	OnStateChange func(StateChange)

	// Logger receives state changes (ejections at Warn, recoveries and
	// trials at Info) and rejected probe credentials (Warn). Nil means no
	// logging.
	Logger *slog.Logger
}

const (
	defaultInterval      = 30 * time.Second
	defaultTimeout       = 5 * time.Second
	defaultProbePath     = "/v1/models"
	defaultProbeFailures = 2
	defaultCallFailures  = 5
	defaultCooldown      = 5 * time.Second
	defaultMaxCooldown   = 5 * time.Minute
)

func (c *Config) interval() time.Duration {
	if c.Interval == 0 {
		return defaultInterval
	}
	return c.Interval
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return defaultTimeout
	}
	return c.Timeout
}

func (c *Config) probeMethod() string {
	if c.ProbeMethod == "" {
		return http.MethodGet
	}
	return c.ProbeMethod
}

func (c *Config) probePath() string {
	if c.ProbePath == "" {
		return defaultProbePath
	}
	return c.ProbePath
}

func (c *Config) probeFailures() int {
	if c.ProbeFailures <= 0 {
		return defaultProbeFailures
	}
	return c.ProbeFailures
}

// callFailures returns the passive ejection threshold; 0 means disabled.
func (c *Config) callFailures() int {
	switch {
	case c.CallFailures == 0:
		return defaultCallFailures
	case c.CallFailures < 0:
		return 0
	}
	return c.CallFailures
}

func (c *Config) cooldown() time.Duration {
	if c.Cooldown <= 0 {
		return defaultCooldown
	}
	return c.Cooldown
}

func (c *Config) maxCooldown() time.Duration {
	if c.MaxCooldown <= 0 {
		return max(defaultMaxCooldown, c.cooldown())
	}
	return max(c.MaxCooldown, c.cooldown())
}

func (c *Config) transport() http.RoundTripper {
	if c.Transport == nil {
		return http.DefaultTransport
	}
	return c.Transport
}

// parseEndpoint parses one endpoint base URL. Its errors quote the endpoint
// with any userinfo removed.
func parseEndpoint(i int, raw string) (*url.URL, error) {
	bad := func(why string) error {
		return fmt.Errorf("health: endpoint %d %q: %s", i, redactRaw(raw), why)
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, bad(ue.Err.Error())
		}
		return nil, bad("does not parse")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, bad("scheme must be http or https")
	}
	if u.Hostname() == "" {
		return nil, bad("no host")
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return nil, bad("invalid port")
		}
	}
	return u, nil
}

// redactRaw removes the userinfo from an endpoint that may not parse, so a
// password in it never reaches an error message.
func redactRaw(raw string) string {
	rest := raw
	prefix := ""
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	auth := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		auth = rest[:j]
	}
	if k := strings.LastIndex(auth, "@"); k >= 0 {
		rest = rest[k+1:]
	}
	return prefix + rest
}

// probeURL builds the URL probed on endpoint base.
func probeURL(base *url.URL, path string) (string, error) {
	ref, err := url.Parse(path)
	if err != nil || ref.Scheme != "" || ref.Host != "" {
		return "", fmt.Errorf("health: probe path %q: must be a path", path)
	}
	u := &url.URL{Scheme: base.Scheme, Host: base.Host}
	if strings.HasPrefix(ref.Path, "/") {
		u.Path = ref.Path
	} else {
		u.Path = strings.TrimSuffix(base.Path, "/") + "/" + ref.Path
	}
	u.RawQuery = ref.RawQuery
	return u.String(), nil
}
