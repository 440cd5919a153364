// Package health keeps calls off dead replicas: it probes a list of
// interchangeable endpoints, ejects the ones that fail (actively, on failed
// probes, and passively, on failed real calls), and sends each call to the most
// preferred endpoint still in service, failing over within the call when a
// request never reached the server.
//
// Endpoints are base URLs, most preferred first: several vLLM, Ollama or
// llama.cpp servers, or regional deployments of one API. Give the SDK the first
// one as its base URL; the middleware re-bases every request addressed to any
// endpoint onto the endpoint it picks, and leaves requests to other hosts alone.
//
// # Health
//
// Every Interval (30s, jittered) each endpoint gets a probe, GET /v1/models by
// default; the first round runs at New, in the background, and so also warms
// the connection pool. ProbeFailures failed probes in a row (a 5xx or 529, a
// timeout, a connection error) eject an endpoint; a passing probe brings it
// back. A 401 or 403 means the server is up with the wrong credentials: it is
// reported, not ejected. Real calls count too: CallFailures (5) failures in a
// row eject at once; a 429 is not a failure. With probes off (a negative
// Interval), an ejected endpoint gets one trial call after a cooldown that
// doubles with each ejection in a row (half-open). When an endpoint is
// ejected, its idle pooled connections are closed. Stats, OnStateChange and
// Logger show what happens.
//
// # Failover
//
// In the recommended stack the middleware sits between retry and the rate
// limiter: retry decides whether a call that may have reached the server is
// repeated; health only moves requests that did not (a refused connection, a
// failed DNS lookup or TLS handshake, a pooled connection the server had
// closed, or an error that says roundtripper.NotSent) to the next endpoint,
// within the call; and when every endpoint is out it fails at once with an
// error matching [ErrNoHealthyEndpoint], without a dial or a timeout.
//
// Most callers want:
//
//	hc, err := health.New(health.Config{
//		Endpoints: []string{"http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"},
//		Transport: tr, // the transport at the bottom of the chain, so probes warm its pool
//	})
//	if err != nil { ... }
//	defer hc.Close()
//	client := &http.Client{Transport: roundtripper.Chain(tr, hc.Middleware())}
package health
