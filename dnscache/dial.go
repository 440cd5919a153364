package dnscache

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// DialContext connects to address (host:port) on network ("tcp", "tcp4",
// "tcp6", "udp", "udp4", "udp6") using the cached addresses of host. It has
// the signature of http.Transport.DialContext.
//
// Successive calls start at successive addresses of each family, spreading
// new connections over them. An address that refuses, fails or does not
// connect within Config.ConnectTimeout is left for the next one. When the
// host has both IPv4 and IPv6 addresses, the preferred family (IPv6 at
// first, then whichever won the last race) is dialed first and the other
// joins after Config.FallbackDelay or as soon as the first fails (RFC 8305
// Happy Eyeballs); the first connection made wins and the others are closed.
//
// IP literals and localhost bypass the cache and are dialed as they are,
// as are other networks ("unix"). A lookup failure is a *LookupError and a
// failure to connect a *DialError; both report NotSent() == true.
func (c *Cache) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var lookupNet string
	switch network {
	case "tcp", "udp":
		lookupNet = "ip"
	case "tcp4", "udp4":
		lookupNet = "ip4"
	case "tcp6", "udp6":
		lookupNet = "ip6"
	default:
		return c.dial(ctx, network, address)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return c.dial(ctx, network, address)
	}
	if _, perr := netip.ParseAddr(host); perr == nil || isLocalhost(host) {
		conn, err := c.dial(ctx, network, address)
		if err != nil {
			return nil, &DialError{Address: address, Tried: 1, Errs: []error{err}}
		}
		return conn, nil
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		p, perr := c.resolver.LookupPort(ctx, network, portStr)
		if perr != nil {
			return nil, &DialError{Address: address, Errs: []error{perr}}
		}
		port = uint64(p)
	}
	addrs, e, err := c.lookup(ctx, lookupNet, host)
	if err != nil {
		return nil, err
	}
	var n uint32
	if e != nil {
		n = e.dials.Add(1) - 1
	} else {
		n = c.dialNext.Add(1) - 1
	}
	primaries, fallbacks := c.order(addrs, uint16(port), n)
	return c.dialParallel(ctx, network, address, primaries, fallbacks)
}

// order splits addrs by family, preferred family first, each rotated to
// start at its n-th address.
func (c *Cache) order(addrs []netip.Addr, port uint16, n uint32) (primaries, fallbacks []netip.AddrPort) {
	all := make([]netip.AddrPort, len(addrs))
	n4 := 0
	for _, a := range addrs {
		if a.Is4() {
			n4++
		}
	}
	// With both families, IPv6 leads (RFC 8305 section 4) until IPv4 wins
	// a race; then IPv4 leads until IPv6 wins one.
	first4 := n4 == len(addrs) || (n4 > 0 && c.prefer4.Load())
	split := len(addrs) - n4
	if first4 {
		split = n4
	}
	i, j := 0, split
	for _, a := range addrs {
		if a.Is4() == first4 {
			all[i] = netip.AddrPortFrom(a, port)
			i++
		} else {
			all[j] = netip.AddrPortFrom(a, port)
			j++
		}
	}
	primaries, fallbacks = all[:split], all[split:]
	rotate(primaries, n)
	rotate(fallbacks, n)
	return primaries, fallbacks
}

func rotate(s []netip.AddrPort, n uint32) {
	if len(s) < 2 {
		return
	}
	k := int(n % uint32(len(s)))
	if k == 0 {
		return
	}
	tmp := append([]netip.AddrPort(nil), s[:k]...)
	copy(s, s[k:])
	copy(s[len(s)-k:], tmp)
}

type dialResult struct {
	conn    net.Conn
	errs    []error
	primary bool
}

// dialParallel races the primaries against the fallbacks, which start
// after the fallback delay or when the primaries have all failed, and
// returns the first connection made. It waits for the loser before it
// returns and closes the loser's connection, so no goroutine or socket
// outlives the call.
func (c *Cache) dialParallel(ctx context.Context, network, address string, primaries, fallbacks []netip.AddrPort) (net.Conn, error) {
	if len(fallbacks) == 0 || c.fallbackDelay < 0 {
		conn, errs := c.dialSerial(ctx, network, primaries, len(fallbacks) == 0)
		if conn == nil && len(fallbacks) > 0 && ctx.Err() == nil {
			var more []error
			conn, more = c.dialSerial(ctx, network, fallbacks, true)
			errs = append(errs, more...)
		}
		if conn == nil {
			return nil, &DialError{Address: address, Tried: len(errs), Errs: errs}
		}
		return conn, nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan dialResult, 2)
	start := func(list []netip.AddrPort, primary bool) {
		go func() {
			conn, errs := c.dialSerial(ctx, network, list, true)
			results <- dialResult{conn: conn, errs: errs, primary: primary}
		}()
	}
	start(primaries, true)
	running, fallbackStarted := 1, false
	timer := time.NewTimer(c.fallbackDelay)
	defer timer.Stop()
	var errs []error
	for running > 0 {
		select {
		case <-timer.C:
			if !fallbackStarted {
				fallbackStarted = true
				start(fallbacks, false)
				running++
			}
		case r := <-results:
			running--
			if r.conn != nil {
				cancel()
				for ; running > 0; running-- {
					if l := <-results; l.conn != nil {
						l.conn.Close()
					}
				}
				// Remember the winning family so the next dial leads with it.
				if ap, err := netip.ParseAddrPort(r.conn.RemoteAddr().String()); err == nil {
					c.prefer4.Store(ap.Addr().Unmap().Is4())
				}
				return r.conn, nil
			}
			errs = append(errs, r.errs...)
			if !fallbackStarted && ctx.Err() == nil {
				fallbackStarted = true
				start(fallbacks, false)
				running++
			}
		}
	}
	return nil, &DialError{Address: address, Tried: len(errs), Errs: errs}
}

// dialSerial tries the addresses in turn. Each is given at most the connect
// timeout, except the last when nothing is tried after it (last): that one
// gets what is left of ctx.
func (c *Cache) dialSerial(ctx context.Context, network string, list []netip.AddrPort, last bool) (net.Conn, []error) {
	var errs []error
	for i, ap := range list {
		if err := ctx.Err(); err != nil {
			if len(errs) == 0 {
				errs = append(errs, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err})
			}
			break
		}
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if c.connectTimeout > 0 && (i < len(list)-1 || !last) {
			dctx, cancel = context.WithTimeout(ctx, c.connectTimeout)
		}
		conn, err := c.dial(dctx, network, ap.String())
		cancel()
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errs
}
