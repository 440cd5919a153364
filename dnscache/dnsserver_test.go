package dnscache

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

// dnsServer is a real DNS server on 127.0.0.1 (UDP and TCP, one port) with
// records the test sets, counting the questions it receives.
type dnsServer struct {
	addr string

	mu       sync.Mutex
	records  map[string][]netip.Addr // lower-case name without the final dot
	silent   bool                    // receive and count, never answer
	dropAAAA bool                    // never answer AAAA questions
	servfail bool
	gate     chan struct{} // when non-nil, answers wait until it is closed
	queries  map[string]int
}

func newDNSServer(t testing.TB) *dnsServer {
	t.Helper()
	s := &dnsServer{records: map[string][]netip.Addr{}, queries: map[string]int{}}
	// UDP and TCP on one port: the port UDP got may be taken for TCP.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		s.addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		_ = pc.Close()
	}
	require.NoError(t, err)

	var wg sync.WaitGroup
	servers := []*dns.Server{
		{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)},
		{Listener: ln, Handler: dns.HandlerFunc(s.serve)},
	}
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() { _ = srv.ActivateAndServe() })
		<-started
	}
	t.Cleanup(func() {
		s.open() // release handlers held at the gate
		for _, srv := range servers {
			_ = srv.Shutdown()
		}
		wg.Wait()
	})
	return s
}

func (s *dnsServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 {
		return
	}
	q := r.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	s.mu.Lock()
	s.queries[name+"/"+dns.TypeToString[q.Qtype]]++
	silent, servfail, gate := s.silent || (s.dropAAAA && q.Qtype == dns.TypeAAAA), s.servfail, s.gate
	addrs, ok := s.records[name]
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if silent {
		return
	}
	m := new(dns.Msg)
	switch {
	case servfail:
		m.SetRcode(r, dns.RcodeServerFailure)
	case !ok:
		m.SetRcode(r, dns.RcodeNameError)
	default:
		m.SetReply(r)
		// Without these the Go resolver takes an empty answer for a lame
		// referral instead of "no such host".
		m.Authoritative, m.RecursionAvailable = true, true
		hdr := func(t uint16) dns.RR_Header {
			return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 60}
		}
		for _, a := range addrs {
			switch {
			case a.Is4() && q.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: a.AsSlice()})
			case a.Is6() && q.Qtype == dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: a.AsSlice()})
			}
		}
	}
	_ = w.WriteMsg(m)
}

func (s *dnsServer) set(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	s.records[name] = out
}

func (s *dnsServer) setSilent(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = v
}

func (s *dnsServer) setServfail(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail = v
}

// hold makes answers wait until open is called.
func (s *dnsServer) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
}

func (s *dnsServer) open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// count returns how many questions of type qtype ("A", "AAAA") for name
// the server received.
func (s *dnsServer) count(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[name+"/"+qtype]
}

func (s *dnsServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.queries {
		n += v
	}
	return n
}

// resolver returns a pure-Go resolver that sends every question to s.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.addr)
		},
	}
}

// fakeClock is the injectable clock: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}
