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
// In the recommended stack the middleware sits between retry and the rate
// limiter: retry decides whether a call that may have reached the server is
// repeated; health only re-sends requests that provably did not (a refused
// connection, a failed DNS lookup or TLS handshake, or an error that says
// roundtripper.NotSent), and when every endpoint is out it fails at once with
// an error matching [ErrNoHealthyEndpoint], without a dial or a timeout.
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
