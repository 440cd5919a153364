package health

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// endpoint is one replica. The fields after the blank line are guarded by
// Checker.mu.
type endpoint struct {
	index    int
	display  string // scheme://host[:port]/base, without userinfo or query
	scheme   string // "http" or "https"
	hostname string // lower case, no brackets
	port     string // explicit or the scheme's default
	host     string // url.URL.Host form, as requests to this endpoint carry it
	basePath string // unescaped, no trailing slash
	baseRaw  string // escaped form of basePath
	probeURL string

	state         State
	reason        string // why out, when not in service
	failures      int    // consecutive failed real calls
	probeFailures int    // consecutive failed probes
	ejections     int
	streak        int       // ejections since the endpoint last stayed in service for MaxCooldown
	restoredAt    time.Time // when it last came back in service
	retryAt       time.Time // with probes off: when a trial call may go
	trial         bool      // a half-open trial call is in flight
	lastProbe     ProbeResult
	conns         map[net.Conn]*connUse
	closed        map[net.Conn]struct{} // closed by the checker, maybe still pooled
	pruneAt       int                   // prune conns when the map reaches this size
}

func newEndpoint(i int, u *url.URL) *endpoint {
	e := &endpoint{
		index:    i,
		scheme:   u.Scheme,
		hostname: strings.ToLower(u.Hostname()),
		port:     u.Port(),
		basePath: strings.TrimSuffix(u.Path, "/"),
		conns:    make(map[net.Conn]*connUse),
		closed:   make(map[net.Conn]struct{}),
		pruneAt:  minPrune,
	}
	if e.port == "" {
		e.port = defaultPort(e.scheme)
	}
	e.baseRaw = strings.TrimSuffix(u.EscapedPath(), "/")
	e.host = u.Host
	e.display = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	return e
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// matchesHost reports whether u is addressed to this endpoint's scheme and
// host:port. It does not allocate.
func (e *endpoint) matchesHost(u *url.URL) bool {
	if !strings.EqualFold(u.Scheme, e.scheme) || !strings.EqualFold(u.Hostname(), e.hostname) {
		return false
	}
	p := u.Port()
	if p == "" {
		p = defaultPort(e.scheme)
	}
	return p == e.port
}

// hasPathPrefix reports whether p is base or lies below it, segment-wise.
func hasPathPrefix(p, base string) bool {
	if base == "" {
		return true
	}
	return strings.HasPrefix(p, base) && (len(p) == len(base) || p[len(base)] == '/')
}

// rebase returns a copy of u addressed to dst instead of src: the part of
// the path below src's base path is moved below dst's. A path outside src's
// base path is kept as it is.
func rebase(u *url.URL, src, dst *endpoint) *url.URL {
	v := *u
	v.Scheme = dst.scheme
	v.Host = dst.host
	v.User = nil
	if !hasPathPrefix(u.Path, src.basePath) {
		return &v
	}
	v.Path = dst.basePath + u.Path[len(src.basePath):]
	v.RawPath = ""
	if u.RawPath != "" && hasPathPrefix(u.RawPath, src.baseRaw) {
		v.RawPath = dst.baseRaw + u.RawPath[len(src.baseRaw):]
		if v.RawPath == (&url.URL{Path: v.Path}).EscapedPath() {
			v.RawPath = ""
		}
	}
	return &v
}
