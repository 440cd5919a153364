package transport

import (
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresetsAndDefaults(t *testing.T) {
	tests := []struct {
		name                 string
		cfg                  Config
		conns, perHost, idle int
		expiry, header       time.Duration
	}{
		{"zero", Config{}, 100, 30, 30, 90 * time.Second, 180 * time.Second},
		{"low", LowConcurrency, 20, 10, 10, 60 * time.Second, 120 * time.Second},
		{"medium", MediumConcurrency, 100, 30, 30, 90 * time.Second, 180 * time.Second},
		{"high", HighConcurrency, 200, 50, 50, 90 * time.Second, 180 * time.Second},
		{"streaming", Streaming, 150, 40, 40, 120 * time.Second, 30 * time.Second},
		{"local", LocalInference, 50, 50, 50, 300 * time.Second, 300 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(tt.cfg)
			defer tr.CloseIdleConnections()
			b := tr.base
			assert.Equal(t, tt.conns, tr.gate.total)
			assert.Equal(t, tt.perHost, tr.gate.perHost)
			assert.Equal(t, tt.perHost, b.MaxConnsPerHost)
			assert.Equal(t, tt.idle, b.MaxIdleConnsPerHost, "idle pool as large as the connection limit, not 2")
			assert.Equal(t, tt.conns, b.MaxIdleConns)
			assert.Equal(t, tt.expiry, b.IdleConnTimeout)
			assert.Equal(t, tt.header, b.ResponseHeaderTimeout)
			assert.Equal(t, 10*time.Second, tr.gate.timeout)
			assert.Equal(t, 10*time.Second, b.TLSHandshakeTimeout)
			assert.NotNil(t, b.Proxy, "proxies from the environment are kept")
			assert.True(t, b.Protocols.HTTP1())
			assert.True(t, b.Protocols.HTTP2(), "HTTP/2 on TLS")
			assert.False(t, b.Protocols.UnencryptedHTTP2())
			assert.Equal(t, 30*time.Second, b.HTTP2.SendPingTimeout, "pings on by default")
			assert.GreaterOrEqual(t, b.HTTP2.PingTimeout, 15*time.Second)
			assert.False(t, b.DisableKeepAlives)
		})
	}
}

func TestConfigAccessors(t *testing.T) {
	off := Config{MaxConns: -1, MaxConnsPerHost: -1, PoolTimeout: -1, IdleConnTimeout: -1, ResponseHeaderTimeout: -1, HTTP2SendPingTimeout: -1, MaxIdleConnsPerHost: -1}
	assert.Zero(t, off.maxConns())
	assert.Zero(t, off.maxConnsPerHost())
	assert.Zero(t, off.poolTimeout())
	assert.Zero(t, off.idleConnTimeout())
	assert.Zero(t, off.responseHeaderTimeout())
	assert.Zero(t, off.sendPingTimeout())
	assert.Equal(t, -1, off.maxIdleConnsPerHost())
	assert.Equal(t, 100, off.maxIdleConns())

	assert.Equal(t, net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 10 * time.Second, Count: 3}, (&Config{}).tcpKeepAlive())
	assert.Equal(t, net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3},
		(&Config{TCPKeepAlive: net.KeepAliveConfig{Idle: 30 * time.Second}}).tcpKeepAlive())
	assert.False(t, (&Config{TCPKeepAlive: net.KeepAliveConfig{Idle: -1}}).tcpKeepAlive().Enable)

	h2c := New(Config{H2C: true})
	assert.True(t, h2c.base.Protocols.UnencryptedHTTP2())
	assert.False(t, h2c.base.Protocols.HTTP1())
	noH2 := New(Config{DisableHTTP2: true})
	assert.False(t, noH2.base.Protocols.HTTP2())
	short := New(Config{HTTP2PingTimeout: time.Second})
	assert.Equal(t, time.Second, short.base.HTTP2.PingTimeout)

	// New copies its Config.
	cfg := Config{MaxConnsPerHost: 3}
	tr := New(cfg)
	cfg.MaxConnsPerHost = 99
	assert.Equal(t, 3, tr.gate.perHost)
	var _ http.RoundTripper = tr
}

func TestHostKey(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://API.example.com/v1", "api.example.com:443"},
		{"http://api.example.com/v1", "api.example.com:80"},
		{"http://127.0.0.1:8080/", "127.0.0.1:8080"},
		{"https://[::1]/", "[::1]:443"},
		{"http://[::1]:9000/", "[::1]:9000"},
		{"http://Local:11434/", "local:11434"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			require.NoError(t, err)
			assert.Equal(t, tt.want, hostKey(u))
		})
	}
}
