// Package prom exports observe's reports as Prometheus metrics: counters of
// calls, attempts, retries, tokens and buffered streams, and histograms of
// call duration, phases (DNS, connect, TLS, pool wait, time to headers),
// time to first event and to first token, retry waits and token gaps, all
// with bounded label sets (host, method, status class, outcome, never the
// URL's path).
//
// It is a package of its own so that importing observe pulls in no
// Prometheus. Most callers want:
//
//	m, err := prom.New(prometheus.DefaultRegisterer, prom.Config{})
//	mw := observe.New(observe.Config{Sinks: []observe.Sink{m}})
package prom
