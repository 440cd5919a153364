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
// if that is sooner. It also checks a connection when a request picks it from
// the pool: one that is past due is closed there, before anything is written,
// so that net/http sends the request on a new connection instead (it does so
// when nothing was written and the body can be rewound: a request without a
// body, or one made by http.NewRequest from a bytes/strings reader, which
// sets GetBody). It checks once more at the request's first write, closer to
// the wire, and the middleware sends again a request that failed on a pooled
// connection before any byte of it was written, which net/http does not do
// for a POST when the server's close arrives between the pick and the write.
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
// Over HTTP/2 one connection carries many streams: it is idle when its last
// stream ends (the end of the response body), and it is closed only then.
// net/http's re-send of a request whose connection closed before it was
// written applies to HTTP/1; over HTTP/2 prefer MaxLifetime with generous
// values and rely on the transport's health-check pings.
//
// Stats counts the connections open, in use and idle, and those closed by
// reason: idle, lifetime, requests, server, error (and other, for closes by
// the transport itself).
package janitor
