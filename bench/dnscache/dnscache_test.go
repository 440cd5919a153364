package dnscache

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	rsdnscache "github.com/rs/dnscache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/dnscache"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const host = "api.bench.test"

// startDNS serves host -> 127.0.0.1 on a loopback UDP/TCP port and returns
// a pure-Go resolver asking it.
func startDNS(tb testing.TB) *net.Resolver {
	tb.Helper()
	var (
		pc   net.PacketConn
		ln   net.Listener
		err  error
		addr string
	)
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(tb, err)
		addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		_ = pc.Close()
	}
	require.NoError(tb, err)
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		q := r.Question[0]
		if !strings.EqualFold(strings.TrimSuffix(q.Name, "."), host) {
			_ = w.WriteMsg(m.SetRcode(r, dns.RcodeNameError))
			return
		}
		m.SetReply(r)
		m.Authoritative, m.RecursionAvailable = true, true
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, 0, 1),
			})
		}
		_ = w.WriteMsg(m)
	})
	servers := []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}}
	var wg sync.WaitGroup
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() { _ = s.ActivateAndServe() })
		<-started
	}
	tb.Cleanup(func() {
		for _, s := range servers {
			_ = s.Shutdown()
		}
		wg.Wait()
	})
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// startListener accepts and closes connections on 127.0.0.1 and returns
// its port.
func startListener(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	tb.Cleanup(func() { _ = ln.Close(); <-done })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// rsDial is the DialContext rs/dnscache's README recommends.
func rsDial(r *rsdnscache.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := r.LookupHost(ctx, h)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			var d net.Dialer
			conn, err = d.DialContext(ctx, network, net.JoinHostPort(ip, port))
			if err == nil {
				break
			}
		}
		return conn, err
	}
}

type contenders struct {
	ours     *dnscache.Cache
	rs       *rsdnscache.Resolver
	resolver *net.Resolver
}

func setup(tb testing.TB) contenders {
	res := startDNS(tb)
	ours := dnscache.New(dnscache.Config{Resolver: res, Family: dnscache.FamilyIPv4, RefreshAhead: -1})
	tb.Cleanup(func() { _ = ours.Close() })
	rs := &rsdnscache.Resolver{Resolver: res}
	ctx := context.Background()
	_, err := ours.LookupNetIP(ctx, "ip4", host)
	require.NoError(tb, err)
	_, err = rs.LookupHost(ctx, host)
	require.NoError(tb, err)
	return contenders{ours, rs, res}
}

func TestContendersAgree(t *testing.T) {
	c := setup(t)
	ours, err := c.ours.LookupNetIP(t.Context(), "ip4", host)
	require.NoError(t, err)
	theirs, err := c.rs.LookupHost(t.Context(), host)
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, ours)
	assert.Equal(t, []string{"127.0.0.1"}, theirs)

	port := startListener(t)
	for _, dial := range []func(context.Context, string, string) (net.Conn, error){c.ours.DialContext, rsDial(c.rs)} {
		conn, err := dial(t.Context(), "tcp", net.JoinHostPort(host, port))
		require.NoError(t, err)
		require.NoError(t, conn.Close())
	}
}

// BenchmarkCachedLookup: a lookup answered from the cache.
func BenchmarkCachedLookup(b *testing.B) {
	c := setup(b)
	ctx := context.Background()
	b.Run("llmhttp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.ours.LookupNetIP(ctx, "ip4", host); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rs-dnscache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.rs.LookupHost(ctx, host); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net.Resolver-uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.resolver.LookupNetIP(ctx, "ip4", host); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCachedLookupParallel(b *testing.B) {
	c := setup(b)
	ctx := context.Background()
	b.Run("llmhttp", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = c.ours.LookupNetIP(ctx, "ip4", host)
			}
		})
	})
	b.Run("rs-dnscache", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = c.rs.LookupHost(ctx, host)
			}
		})
	})
}

// BenchmarkCachedDial: a new TCP connection to a cached host, against
// net.Dialer resolving each time with the system resolver (localhost, from
// /etc/hosts: its cheapest case) and with the Go resolver asking the DNS
// server.
func BenchmarkCachedDial(b *testing.B) {
	c := setup(b)
	port := startListener(b)
	ctx := context.Background()
	run := func(b *testing.B, dial func(context.Context, string, string) (net.Conn, error), addr string) {
		b.ReportAllocs()
		for b.Loop() {
			conn, err := dial(ctx, "tcp4", addr)
			if err != nil {
				b.Fatal(err)
			}
			_ = conn.Close()
		}
	}
	addr := net.JoinHostPort(host, port)
	b.Run("llmhttp", func(b *testing.B) { run(b, c.ours.DialContext, addr) })
	b.Run("rs-dnscache", func(b *testing.B) { run(b, rsDial(c.rs), addr) })
	b.Run("net.Dialer-system-resolver", func(b *testing.B) {
		var d net.Dialer
		run(b, d.DialContext, net.JoinHostPort("localhost", port))
	})
	b.Run("net.Dialer-go-resolver", func(b *testing.B) {
		d := net.Dialer{Resolver: c.resolver}
		run(b, d.DialContext, addr)
	})
}
