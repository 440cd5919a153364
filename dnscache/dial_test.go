package dnscache

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listenLoopback starts TCP listeners on the given loopback addresses, all
// on one port (DNS gives addresses, not ports), and returns the port and a
// count of the connections each accepted.
func listenLoopback(t *testing.T, ips ...string) (string, map[string]*atomic.Int64) {
	t.Helper()
	var lns []net.Listener
	var port string
	for try := 0; ; try++ {
		lns = lns[:0]
		ln, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		require.NoError(t, err)
		lns = append(lns, ln)
		_, port, _ = net.SplitHostPort(ln.Addr().String())
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				break
			}
			lns = append(lns, l)
		}
		if len(lns) == len(ips) {
			break
		}
		for _, l := range lns {
			_ = l.Close()
		}
		require.Less(t, try, 20, "no common free port")
	}
	counts := map[string]*atomic.Int64{}
	var wg sync.WaitGroup
	for i, ln := range lns {
		n := new(atomic.Int64)
		counts[ips[i]] = n
		wg.Go(func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				n.Add(1)
				_ = conn.Close()
			}
		})
	}
	t.Cleanup(func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
		wg.Wait()
	})
	return port, counts
}

func remoteIP(t *testing.T, conn net.Conn) string {
	t.Helper()
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	require.NoError(t, err)
	return ap.Addr().String()
}

func TestDialRotatesOverAddresses(t *testing.T) {
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	port, accepted := listenLoopback(t, ips...)
	srv := newDNSServer(t)
	srv.set("rot.test", ips...)
	c := newTestCache(t, srv, newFakeClock(), Config{})

	const n = 30
	byIP := map[string]int{}
	for range n {
		conn, err := c.DialContext(t.Context(), "tcp", net.JoinHostPort("rot.test", port))
		require.NoError(t, err)
		byIP[remoteIP(t, conn)]++
		require.NoError(t, conn.Close())
	}
	for _, ip := range ips {
		assert.Equal(t, n/len(ips), byIP[ip], ip)
		require.Eventually(t, func() bool { return accepted[ip].Load() == n/int64(len(ips)) }, 10*time.Second, 5*time.Millisecond, ip)
	}
	assert.Equal(t, 1, srv.count("rot.test", "A"))
}

func TestDialFallsBackWhenAnAddressRefuses(t *testing.T) {
	port, accepted := listenLoopback(t, "127.0.0.2")
	srv := newDNSServer(t)
	srv.set("half.test", "127.0.0.4", "127.0.0.2") // nothing listens on 127.0.0.4
	c := newTestCache(t, srv, newFakeClock(), Config{})

	for range 6 {
		conn, err := c.DialContext(t.Context(), "tcp", net.JoinHostPort("half.test", port))
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.2", remoteIP(t, conn))
		require.NoError(t, conn.Close())
	}
	require.Eventually(t, func() bool { return accepted["127.0.0.2"].Load() == 6 }, 10*time.Second, 5*time.Millisecond)
}

func TestDialErrorWhenEveryAddressRefuses(t *testing.T) {
	port, _ := listenLoopback(t, "127.0.0.2")
	srv := newDNSServer(t)
	srv.set("down.test", "127.0.0.4", "127.0.0.5")
	c := newTestCache(t, srv, newFakeClock(), Config{})

	_, err := c.DialContext(t.Context(), "tcp", net.JoinHostPort("down.test", port))
	var de *DialError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 2, de.Tried)
	assert.True(t, roundtripper.NotSent(err))
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Contains(t, err.Error(), "down.test:"+port)
	assert.Contains(t, err.Error(), "2 addresses failed")
}

func TestDialLookupFailure(t *testing.T) {
	srv := newDNSServer(t)
	c := newTestCache(t, srv, newFakeClock(), Config{})
	_, err := c.DialContext(t.Context(), "tcp", "nowhere.test:443")
	var le *LookupError
	require.ErrorAs(t, err, &le)
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	assert.True(t, dnsErr.IsNotFound)
	assert.True(t, roundtripper.NotSent(err))
}

// blackholeDial is a Config.Dial whose attempts to the addresses in holes
// never connect: they wait for their context, as a SYN into a black hole.
type blackholeDial struct {
	holes    func(netip.Addr) bool
	attempts sync.Map // address -> *atomic.Int64
}

func (b *blackholeDial) count(addr string) int64 {
	v, ok := b.attempts.Load(addr)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (b *blackholeDial) dial(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err == nil {
		v, _ := b.attempts.LoadOrStore(ap.Addr().String(), new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		if b.holes(ap.Addr()) {
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

func TestDialPerAddressConnectTimeout(t *testing.T) {
	port, _ := listenLoopback(t, "127.0.0.2")
	srv := newDNSServer(t)
	srv.set("slow.test", "127.0.0.5", "127.0.0.2")
	bh := &blackholeDial{holes: func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.5") }}
	c := newTestCache(t, srv, newFakeClock(), Config{Dial: bh.dial, ConnectTimeout: 100 * time.Millisecond})

	for range 2 { // rotation puts the black hole first in one of the two
		start := time.Now()
		conn, err := c.DialContext(t.Context(), "tcp", net.JoinHostPort("slow.test", port))
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.2", remoteIP(t, conn))
		assert.Less(t, time.Since(start), 5*time.Second)
		require.NoError(t, conn.Close())
	}
	assert.EqualValues(t, 1, bh.count("127.0.0.5"))
	assert.EqualValues(t, 2, bh.count("127.0.0.2"))
}

func TestHappyEyeballs(t *testing.T) {
	port, _ := listenLoopback(t, "127.0.0.2")
	srv := newDNSServer(t)
	srv.set("dual.test", "127.0.0.2", "2001:db8::1")
	// IPv6 is a black hole: its attempt never connects.
	bh := &blackholeDial{holes: func(a netip.Addr) bool { return a.Is6() }}
	c := newTestCache(t, srv, newFakeClock(), Config{Dial: bh.dial, FallbackDelay: 50 * time.Millisecond})

	start := time.Now()
	conn, err := c.DialContext(t.Context(), "tcp", net.JoinHostPort("dual.test", port))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "IPv6 is given the fallback delay first")
	assert.Equal(t, "127.0.0.2", remoteIP(t, conn))
	require.NoError(t, conn.Close())
	assert.EqualValues(t, 1, bh.count("2001:db8::1"))

	// IPv4 won, so it leads the next dial, which does not touch IPv6.
	conn, err = c.DialContext(t.Context(), "tcp", net.JoinHostPort("dual.test", port))
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	assert.EqualValues(t, 1, bh.count("2001:db8::1"))
	assert.EqualValues(t, 2, bh.count("127.0.0.2"))

	// tcp6 dials IPv6 only.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = c.DialContext(ctx, "tcp6", net.JoinHostPort("dual.test", port))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, roundtripper.NotSent(err))
}

// trackedConn records whether it was closed.
type trackedConn struct {
	net.Conn
	closed atomic.Bool
}

func (c *trackedConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func TestHappyEyeballsClosesTheLoser(t *testing.T) {
	port, _ := listenLoopback(t, "127.0.0.2")
	srv := newDNSServer(t)
	srv.set("race.test", "127.0.0.2", "2001:db8::1")

	var mu sync.Mutex
	var conns []*trackedConn
	release := make(chan struct{})
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		ap := netip.MustParseAddrPort(address)
		if ap.Addr().Is6() {
			<-release // a slow IPv6 attempt that ignores cancellation and connects anyway
		}
		var d net.Dialer
		conn, err := d.DialContext(context.WithoutCancel(ctx), "tcp4", net.JoinHostPort("127.0.0.2", strconv.Itoa(int(ap.Port()))))
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: conn}
		mu.Lock()
		conns = append(conns, tc)
		mu.Unlock()
		if ap.Addr().Is4() {
			close(release)
		}
		return tc, nil
	}
	c := newTestCache(t, srv, newFakeClock(), Config{Dial: dial, FallbackDelay: 10 * time.Millisecond})
	conn, err := c.DialContext(t.Context(), "tcp", net.JoinHostPort("race.test", port))
	require.NoError(t, err)
	defer conn.Close()

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, conns, 2, "both attempts connected")
	for _, tc := range conns {
		if tc == conn {
			assert.False(t, tc.closed.Load(), "the winner is open")
		} else {
			assert.True(t, tc.closed.Load(), "the loser is closed")
		}
	}
}

func TestDialBypassesCacheForLiteralsAndLocalhost(t *testing.T) {
	port, _ := listenLoopback(t, "127.0.0.1")
	srv := newDNSServer(t)
	c := newTestCache(t, srv, newFakeClock(), Config{})
	for _, host := range []string{"127.0.0.1", "localhost"} {
		conn, err := c.DialContext(t.Context(), "tcp4", net.JoinHostPort(host, port))
		require.NoError(t, err, host)
		require.NoError(t, conn.Close())
	}
	assert.Zero(t, srv.total())

	_, err := c.DialContext(t.Context(), "tcp", "127.0.0.4:"+port)
	var de *DialError
	require.ErrorAs(t, err, &de)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED))
	assert.True(t, roundtripper.NotSent(err))
}

func TestDialWithoutRaceTimesOutThePreferredFamily(t *testing.T) {
	port, _ := listenLoopback(t, "127.0.0.2")
	srv := newDNSServer(t)
	srv.set("seq.test", "127.0.0.2", "2001:db8::1")
	bh := &blackholeDial{holes: func(a netip.Addr) bool { return a.Is6() }}
	c := newTestCache(t, srv, newFakeClock(), Config{Dial: bh.dial, FallbackDelay: -1, ConnectTimeout: 100 * time.Millisecond})

	start := time.Now()
	conn, err := c.DialContext(t.Context(), "tcp", net.JoinHostPort("seq.test", port))
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "IPv6 had its connect timeout")
	assert.EqualValues(t, 1, bh.count("2001:db8::1"))
	assert.EqualValues(t, 1, bh.count("127.0.0.2"))
}
