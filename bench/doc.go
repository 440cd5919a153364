// Package bench holds side-by-side benchmarks of llmhttp against peer
// libraries. It is a module of its own so that the peers never become
// dependencies of the library.
package bench
