// Package ws holds WebSocket connections to realtime LLM APIs (OpenAI-style
// Realtime at wss://…/v1/realtime, and local servers speaking the same
// events) that find dead peers, watch responses for stalls and reconnect
// without surprises. It is built on github.com/coder/websocket.
//
// Most callers want:
//
//	c, err := ws.Dial(ctx, "wss://api.example.com/v1/realtime?model=m", ws.Config{
//		HTTPClient: llmhttpClient, // the same connection layer as HTTP calls
//		Header:     http.Header{"Authorization": {"Bearer " + key}},
//	})
//	defer c.Close()
//	c.WriteJSON(ctx, map[string]any{"type": "response.create"})
//	for {
//		typ, data, err := c.ReadEvent(ctx)
//		...
//	}
//
// # Connection layer
//
// The handshake goes through Config.HTTPClient (its Transport, redirect
// policy and cookie jar), so a caller passes the client built by
// llmhttp.NewClient or one over transport.New(...): the same dialer with TCP
// keep-alive probes, the same DNS cache and proxy settings as the HTTP calls.
// The handshake is bounded by HandshakeTimeout. Go's transport speaks
// HTTP/1.1 for a WebSocket upgrade over TLS even where it would use HTTP/2
// otherwise; a transport forced to h2c (HTTP/2 with prior knowledge) cannot
// upgrade, so give such a setup a client without it. The transport's
// middlewares must hand the 101 answer's body back unchanged (the upgraded
// connection): a decorator that wraps response bodies breaks the handshake.
// Config.Header (Authorization, OpenAI-Beta, ...) is sent with the handshake
// and never appears in an error or a log line. A refused handshake is a
// *HandshakeError with the status and the server's error body.
//
// # Liveness
//
// A ping goes out every PingInterval (20s); no pong within PingTimeout (10s)
// ends the connection with an error matching ErrPingTimeout, so a peer that
// died behind a NAT is found within interval + timeout, not at the next
// write. A message received counts as a sign of life too. Messages larger
// than MaxMessageSize (10 MiB) end the connection with a *MessageTooBigError
// instead of filling memory. Writes are safe from several goroutines.
//
// # Response watchdog
//
// After the caller sends a message asking for a response (an event whose
// "type" is in ResponseEvents, by default response.create), the first
// server event must arrive within FirstEventTimeout and each later one
// within EventIntervalTimeout, until an event in DoneEvents (response.done,
// error). Keep-alive events (KeepAliveEvents) do not count. A stall ends the
// connection with a *StallError matching roundtripper.ErrFirstTokenTimeout
// or roundtripper.ErrTokenIntervalTimeout, the sentinels sse's Watchdog
// matches too, so callers handle both transports alike.
//
// # Losing a connection, reconnecting, rolling over
//
// When a connection is lost (the peer closed it, a dead peer, a stall, an
// oversized message, a network error), every Read or Write pending on it
// fails at once with a *LostError (errors.Is(err, ErrConnectionLost)) that
// unwraps to the cause; the first Read after the loss reports it too.
// Without Reconnect, the Conn stays lost. With Reconnect.MaxAttempts > 0 the
// next Read (or an explicit Reconnect call) dials again with exponential
// backoff and full jitter, at most MaxAttempts times, within the caller's
// context; a handshake the server refuses for good (401, 403, 404, ...) is
// not retried. A new connection is a new server session: its state (the
// session.update settings, the conversation) is gone, so OnNewSession is
// called and the library replays nothing. A Write never reconnects: a
// message written after a loss fails with the *LostError and is not sent.
//
// Servers cap a session's age (OpenAI Realtime closes it after 60 minutes
// with code 1001). With MaxSessionAge set, the Conn opens a new session
// that long after the current one started, as soon as no response is in
// flight, switches to it and closes the old one cleanly; OnNewSession tells
// the caller, and Read goes on with the new session's first event.
//
// # Closing
//
// Close sends a close frame, waits up to CloseTimeout (5s) for the peer's
// answer, then closes the TCP connection whatever the peer does. No
// goroutine of the package outlives Close or a lost connection.
package ws
