package dnscache

import (
	"net"
	"testing"
)

func benchCache(b *testing.B, cfg Config) (*Cache, *dnsServer) {
	srv := newDNSServer(b)
	srv.set("bench.test", "127.0.0.1", "::1")
	cfg.Resolver = srv.resolver()
	c := New(cfg)
	b.Cleanup(func() { _ = c.Close() })
	if _, err := c.LookupNetIP(b.Context(), "ip", "bench.test"); err != nil {
		b.Fatal(err)
	}
	return c, srv
}

// BenchmarkLookupNetIPCached is the hot path: a fresh answer, shared slice.
func BenchmarkLookupNetIPCached(b *testing.B) {
	for _, network := range []string{"ip", "ip4"} {
		b.Run(network, func(b *testing.B) {
			c, _ := benchCache(b, Config{RefreshAhead: -1})
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.LookupNetIP(ctx, network, "bench.test"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLookupNetIPCachedParallel(b *testing.B) {
	c, _ := benchCache(b, Config{RefreshAhead: -1})
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.LookupNetIP(ctx, "ip", "bench.test"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDial compares a dial through the cache with net.Dialer resolving
// each time: through the system resolver (localhost, from /etc/hosts, the
// cheapest case it has) and through the Go resolver asking the loopback DNS
// server (a real query per dial).
func BenchmarkDial(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
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
	b.Cleanup(func() { _ = ln.Close(); <-done })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	c, srv := benchCache(b, Config{Family: FamilyIPv4, RefreshAhead: -1})
	run := func(b *testing.B, dial func() (net.Conn, error)) {
		b.ReportAllocs()
		for b.Loop() {
			conn, err := dial()
			if err != nil {
				b.Fatal(err)
			}
			_ = conn.Close()
		}
	}
	ctx := b.Context()
	b.Run("dnscache", func(b *testing.B) {
		run(b, func() (net.Conn, error) { return c.DialContext(ctx, "tcp", "bench.test:"+port) })
	})
	b.Run("net.Dialer/system-resolver-localhost", func(b *testing.B) {
		var d net.Dialer
		run(b, func() (net.Conn, error) { return d.DialContext(ctx, "tcp4", "localhost:"+port) })
	})
	b.Run("net.Dialer/go-resolver-dns", func(b *testing.B) {
		d := net.Dialer{Resolver: srv.resolver()}
		run(b, func() (net.Conn, error) { return d.DialContext(ctx, "tcp4", "bench.test:"+port) })
	})
}
