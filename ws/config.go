package ws

import (
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Defaults, from the reference's WebSocket settings (ping 20s, pong timeout
// 10s, close timeout 5s, 10 MiB messages).
const (
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultPingInterval         = 20 * time.Second
	DefaultPingTimeout          = 10 * time.Second
	DefaultCloseTimeout         = 5 * time.Second
	DefaultMaxMessageSize       = 10 << 20
	DefaultFirstEventTimeout    = 15 * time.Second // as sse.DefaultFirstTokenTimeout
	DefaultEventIntervalTimeout = 10 * time.Second // as sse.DefaultTokenIntervalTimeout

	// OpenAIRealtimeMaxAge is how long OpenAI's Realtime API keeps a
	// session before closing it with code 1001. Set MaxSessionAge a few
	// minutes below it to roll over first.
	OpenAIRealtimeMaxAge = 60 * time.Minute
)

// Config sets up a Conn. The zero Config is usable: http.DefaultClient, the
// defaults above, no reconnection, no rollover.
type Config struct {
	// HTTPClient carries the opening handshake: its Transport dials (and
	// so its dialer, TCP keep-alive, DNS cache and TLS settings apply), its
	// CheckRedirect and Jar are used. Pass llmhttp.NewClient's client or
	// one over transport.New(...) to share the HTTP calls' connection
	// layer. Its Timeout, if set, bounds the handshake too. Nil means
	// http.DefaultClient.
	HTTPClient *http.Client

	// Header is sent with the handshake (Authorization, OpenAI-Beta, ...).
	// It never appears in errors or logs.
	Header http.Header

	// Subprotocols are offered in Sec-WebSocket-Protocol; nil offers none.
	Subprotocols []string

	// HandshakeTimeout bounds one opening handshake; zero means 10s,
	// negative means only the context bounds it.
	HandshakeTimeout time.Duration

	// PingInterval is the time between pings; zero means 20s, negative
	// turns the heartbeat off.
	PingInterval time.Duration

	// PingTimeout is how long a pong may take; zero means 10s.
	PingTimeout time.Duration

	// CloseTimeout bounds the close handshake in Close, after which the
	// TCP connection is closed anyway; zero means 5s.
	CloseTimeout time.Duration

	// MaxMessageSize is the largest message read, in bytes; zero means
	// 10 MiB, negative means no limit.
	MaxMessageSize int64

	// FirstEventTimeout bounds the wait for the first server event after
	// a message asking for a response; zero means 15s, negative turns the
	// limit off.
	FirstEventTimeout time.Duration

	// EventIntervalTimeout bounds the time between server events of a
	// response; zero means 10s, negative turns the limit off.
	EventIntervalTimeout time.Duration

	// ResponseEvents are the "type" values of client messages that ask
	// for a response and start the watchdog; nil means
	// {"response.create"}, an empty non-nil slice turns the watchdog off.
	ResponseEvents []string

	// DoneEvents are the server event types that end a response; nil
	// means {"response.done", "error"}.
	DoneEvents []string

	// KeepAliveEvents are server event types that do not count as
	// progress; nil means {"ping", "keepalive", "keep_alive", "heartbeat"}.
	KeepAliveEvents []string

	// Reconnect turns reconnection on; the zero value leaves it off.
	Reconnect ReconnectConfig

	// MaxSessionAge rolls a session over to a new one this long after it
	// started, once no response is in flight; zero means never. For
	// OpenAI Realtime, something like OpenAIRealtimeMaxAge - 5*time.Minute.
	MaxSessionAge time.Duration

	// OnNewSession, if not nil, is called when a reconnection or a
	// rollover has opened a new server session, before any of its
	// messages is returned by Read. The server kept nothing of the old
	// session: a caller that configured it (session.update) must do so
	// again. It is not called for the session Dial opens. It must not
	// block for long; it may call Write.
	OnNewSession func(Session)

	// Logger, if not nil, receives connection losses, reconnections and
	// rollovers at Info/Warn level; nil means no logging.
	Logger *slog.Logger
}

// ReconnectConfig sets up reconnection.
type ReconnectConfig struct {
	// MaxAttempts is the most dials made for one reconnection; zero
	// leaves reconnection off.
	MaxAttempts int
	// BaseDelay is the first backoff step; zero means 500ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff; zero means 30s.
	MaxDelay time.Duration
}

// Session describes one server session: one WebSocket connection.
type Session struct {
	ID      int       // 1 for the session Dial opened, then 2, 3, ...
	Started time.Time // when its handshake completed
	Cause   error     // why the previous one ended: a loss, or ErrSessionMaxAge; nil for the first
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func (c *Config) handshakeTimeout() time.Duration {
	return orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
}
func (c *Config) pingInterval() time.Duration { return orDefault(c.PingInterval, DefaultPingInterval) }
func (c *Config) pingTimeout() time.Duration {
	if c.PingTimeout <= 0 {
		return DefaultPingTimeout
	}
	return c.PingTimeout
}
func (c *Config) closeTimeout() time.Duration {
	if c.CloseTimeout <= 0 {
		return DefaultCloseTimeout
	}
	return c.CloseTimeout
}
func (c *Config) maxMessageSize() int64 {
	switch {
	case c.MaxMessageSize == 0:
		return DefaultMaxMessageSize
	case c.MaxMessageSize < 0:
		return -1
	}
	return c.MaxMessageSize
}
func (c *Config) firstEventTimeout() time.Duration {
	return orDefault(c.FirstEventTimeout, DefaultFirstEventTimeout)
}
func (c *Config) eventIntervalTimeout() time.Duration {
	return orDefault(c.EventIntervalTimeout, DefaultEventIntervalTimeout)
}
func (c *Config) isResponseEvent(t string) bool {
	if c.ResponseEvents == nil {
		return t == "response.create"
	}
	return slices.Contains(c.ResponseEvents, t)
}
func (c *Config) isDoneEvent(t string) bool {
	if c.DoneEvents == nil {
		return t == "response.done" || t == "error"
	}
	return slices.Contains(c.DoneEvents, t)
}
func (c *Config) isKeepAlive(t string) bool {
	if c.KeepAliveEvents == nil {
		switch t {
		case "ping", "keepalive", "keep_alive", "heartbeat":
			return true
		}
		return false
	}
	return slices.Contains(c.KeepAliveEvents, t)
}
func (r *ReconnectConfig) baseDelay() time.Duration {
	if r.BaseDelay <= 0 {
		return 500 * time.Millisecond
	}
	return r.BaseDelay
}
func (r *ReconnectConfig) maxDelay() time.Duration {
	if r.MaxDelay <= 0 {
		return 30 * time.Second
	}
	return r.MaxDelay
}
