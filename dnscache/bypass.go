package dnscache

import (
	"net"
	"net/netip"
	"strings"
)

// bypass answers IP literals and localhost without the cache.
func bypass(m mask, host string) ([]netip.Addr, bool, error) {
	if host == "" {
		return nil, true, &LookupError{Host: host, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	if looksLikeIP(host) {
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			if (ip.Is4() && !m.has(fam4)) || (ip.Is6() && !m.has(fam6)) {
				return nil, true, &LookupError{Host: host, Err: ErrFamily}
			}
			return []netip.Addr{ip}, true, nil
		}
	}
	if isLocalhost(host) {
		// RFC 6761 section 6.3: localhost is the loopback, never asked of
		// DNS. IPv4 first: local model servers (Ollama, llama.cpp) often
		// listen on 127.0.0.1 alone.
		var out []netip.Addr
		if m.has(fam4) {
			out = append(out, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		}
		if m.has(fam6) {
			out = append(out, netip.IPv6Loopback())
		}
		return out, true, nil
	}
	return nil, false, nil
}

// looksLikeIP reports whether host may be an IP literal: IPv6 has a colon,
// IPv4 only digits and dots. It spares names a failed netip.ParseAddr,
// whose error allocates.
func looksLikeIP(host string) bool {
	if strings.IndexByte(host, ':') >= 0 {
		return true
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func isLocalhost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	return strings.EqualFold(host, "localhost") ||
		(len(host) > len(".localhost") && strings.EqualFold(host[len(host)-len(".localhost"):], ".localhost"))
}
