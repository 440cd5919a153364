package dnscache

import (
	"net/netip"
	"testing"
)

// FuzzBypass checks the IP-literal shortcut of the hot path: looksLikeIP
// never turns away a string netip.ParseAddr accepts (or a literal would be
// sent to DNS), and bypass answers exactly the literals and localhost.
func FuzzBypass(f *testing.F) {
	for _, s := range []string{
		"", "api.openai.com", "127.0.0.1", "::1", "fe80::1%eth0", "::ffff:1.2.3.4",
		"1.2.3", "1.2.3.4.5", "localhost", "LOCALHOST.", "a.localhost", "localhost.example",
		"deadbeef", "1e100.net", "[::1]", "0x7f.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		ip, perr := netip.ParseAddr(host)
		if perr == nil && !looksLikeIP(host) {
			t.Fatalf("looksLikeIP(%q) = false for a literal", host)
		}
		addrs, ok, err := bypass(maskBoth, host)
		switch {
		case perr == nil:
			if !ok || err != nil || len(addrs) != 1 || addrs[0] != ip.Unmap() {
				t.Fatalf("bypass(%q) = %v, %v, %v; want the literal", host, addrs, ok, err)
			}
		case host == "":
			if !ok || err == nil {
				t.Fatalf("bypass(\"\") must fail")
			}
		case isLocalhost(host):
			if !ok || err != nil || len(addrs) != 2 || !addrs[0].IsLoopback() || !addrs[1].IsLoopback() {
				t.Fatalf("bypass(%q) = %v, %v, %v; want loopback", host, addrs, ok, err)
			}
		default:
			if ok {
				t.Fatalf("bypass(%q) answered a name: %v, %v", host, addrs, err)
			}
		}
		_ = hostOf(host)
	})
}
