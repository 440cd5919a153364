// Package dnscache compares llmhttp's dnscache with github.com/rs/dnscache
// and with net.Dialer resolving on every dial, side by side in one run:
//
//	go test -run '^$' -bench . -benchtime 2s ./dnscache/   (from bench/)
//
// Every contender resolves the same name on the same loopback DNS server
// (github.com/miekg/dns) and dials the same loopback listener.
package dnscache
