package janitor

import "time"

// Config configures a [Janitor]. The zero value is useful: connections idle
// for 60s are closed, and nothing else is retired.
type Config struct {
	// IdleTimeout closes a connection that has been idle in the pool this
	// long. Keep it below the server's keep-alive timeout (the reference
	// says 30s below), so that the client closes first. Zero means 60s;
	// negative means idle connections are not closed for being idle (a
	// server Keep-Alive hint still applies).
	IdleTimeout time.Duration

	// MaxLifetime retires a connection this old once it is idle, so that a
	// long-lived pool follows DNS changes and spreads over new replicas.
	// Zero means no limit.
	MaxLifetime time.Duration

	// MaxRequestsPerConn retires a connection once it has served this many
	// requests (over HTTP/2, streams), when it is next idle. Zero means no
	// limit.
	MaxRequestsPerConn int

	// KeepAliveMargin is subtracted from the timeout a server announces in
	// a "Keep-Alive: timeout=N" response header to give that connection's
	// idle expiry, when that is sooner than IdleTimeout. Zero means 1s (as
	// undici's keepAliveTimeoutThreshold); negative ignores the header.
	KeepAliveMargin time.Duration
}

func (c *Config) idleTimeout() time.Duration {
	switch {
	case c.IdleTimeout < 0:
		return 0
	case c.IdleTimeout == 0:
		return 60 * time.Second
	}
	return c.IdleTimeout
}

func (c *Config) keepAliveMargin() (time.Duration, bool) {
	switch {
	case c.KeepAliveMargin < 0:
		return 0, false
	case c.KeepAliveMargin == 0:
		return time.Second, true
	}
	return c.KeepAliveMargin, true
}
