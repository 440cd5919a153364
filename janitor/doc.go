// Package janitor owns the end of a connection's life: it closes connections
// idle too long, retires those that lived too long or served enough requests,
// and never cuts one in the middle of a request or a stream.
//
// # Wiring
//
// A Janitor has two halves that must be used together on the same transport:
// [Janitor.WrapDial] wraps the dial function, so the janitor knows every
// connection it dialed and can close it; [Janitor.Middleware] decorates the
// transport, so that through httptrace (GotConn, PutIdleConn, composed with
// any hooks already on the request's context) it knows which connections are
// in use and which are idle in the pool. A connection no request has reported
// through the middleware is never closed by the janitor.
//
//	j := janitor.New(janitor.Config{IdleTimeout: 60 * time.Second, MaxLifetime: 10 * time.Minute})
//	defer j.Close()
//	tr := transport.New(transport.Config{DialContext: j.WrapDial(nil)})
//	client := &http.Client{Transport: roundtripper.Chain(tr, j.Middleware())}
//
// # The client closes first
//
// The reference's rule. A server closes a connection that stayed idle past
// its keep-alive timeout; a request written onto it at that instant fails
// with "connection reset", and a POST is not re-sent by net/http. So the
// janitor closes an idle connection before the server would: after
// [Config.IdleTimeout], or, when a response carried the server's
// "Keep-Alive: timeout=N" hint, after N seconds minus [Config.KeepAliveMargin]
// if that is sooner. The janitor's timer closes most such connections
// before a request picks one. For the rest there is the write guard: the
// first write of a request onto a pooled HTTP/1 connection is refused,
// before any byte of it, when the connection is past its expiry or the
// server's FIN has already arrived, and net/http then sends the request on
// a new connection by itself (it does so when nothing was written on a
// reused connection and the body can be rewound: a request without a body,
// or one made by http.NewRequest from a bytes/strings reader, which sets
// GetBody). On Linux the guard asks the kernel (TCP_INFO) how long ago data
// last arrived and whether the connection is still established, so that a
// goroutine descheduled after reading the response cannot make a
// connection look younger than the server's timer says; elsewhere the
// janitor's own clock decides. The same check is made when a request gets
// the connection, and the middleware sends again a request that failed on
// a pooled connection before any byte of it was written, which net/http
// does not do for a POST when the server's close arrives between the pick
// and the write. Stats.Refused and Stats.Resent count the two.
//
// # Retirement
//
// [Config.MaxLifetime] is what makes a long-lived pool follow DNS changes
// and spread its load over new server replicas: without it, a busy client
// keeps its first connections, to the first addresses, for ever.
// [Config.MaxRequestsPerConn] caps the requests one connection serves.
// Both retire a connection only when it is idle: a busy connection that is
// due is closed when its request or stream ends.
//
// Over HTTP/2 one connection carries many streams, and net/http keeps
// giving it new ones while it is open: closing it under them would fail
// the streams being started, and a busy connection may never be idle. So a
// due plaintext HTTP/2 (h2c) connection, busy or idle, is not closed by the
// janitor: it hands the client, between two frames of what the server
// sent, a GOAWAY allowing every stream already started. net/http's HTTP/2
// client then takes the connection out of its pool, lets those streams
// end, sends new requests on a new connection, and closes the old one when
// its last stream ends (Stats.Draining counts those waiting). A request
// that picked the connection just before may still go on it, so a
// connection retired by MaxRequestsPerConn may serve a few more requests
// than the limit, or a few fewer when requests that picked it had not
// started their stream and went elsewhere. Over TLS the janitor sees only
// ciphertext: a due HTTP/2 connection over TLS is closed when it is next
// idle, as HTTP/1 ones are.
//
// # Silent connections
//
// A connection that stops delivering anything (a peer or middlebox that
// drops what the server sends) fails every request on it by timeout; over
// HTTP/2 net/http keeps handing it out, so a replay of a timed-out request
// lands on it again, until the ping timeout. The rule: when a request
// gives up (its context ends, or a timeout) without response headers, after
// waiting at least 250ms on a connection from which nothing at all arrived
// since the request got it, that connection is retired (counted as
// ClosedError): an h2c connection whose frames the janitor follows is sent
// a GOAWAY (its other streams run on); any other is closed as soon as no
// request holds it. A server slow to send headers does not trip it while
// anything else arrives on the connection (other streams, pings, window
// updates); alone on a quiet connection it costs one new connection.
//
// # Close
//
// [Janitor.Close] closes the idle connections it knows, and then each one
// as soon as its last request ends, so that no connection outlives the
// client: over HTTP/2 a stream whose context was cancelled (by a watchdog
// or a timeout) may end after the caller's last CloseIdleConnections.
//
// Stats counts the connections open, in use, idle and draining, and those
// closed by reason: idle, lifetime, requests, server, error (and other, for
// closes by the transport itself).
package janitor
