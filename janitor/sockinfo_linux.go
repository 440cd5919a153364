//go:build linux && (amd64 || arm64 || riscv64 || loong64 || ppc64le || s390x)

package janitor

import (
	"syscall"
	"time"
	"unsafe"
)

// kernelTick is how much the kernel's idle count may fall short: it counts
// whole scheduler ticks, 4ms at 250 Hz (the default of Debian's and Ubuntu's
// kernels). On a 100 Hz kernel up to 6ms more comes out of the margin.
const kernelTick = 4 * time.Millisecond

const tcpEstablished = 1 // TCP_ESTABLISHED in include/net/tcp_states.h

// sockProbe asks the kernel about one TCP connection. It is used by one
// goroutine at a time: the write guard probes only in the write that
// disarms it (a compare-and-swap). Its closure and buffer are made once, so
// that a probe allocates nothing.
type sockProbe struct {
	raw   syscall.RawConn
	fn    func(fd uintptr)
	info  syscall.TCPInfo
	errno syscall.Errno
}

func newSockProbe(raw syscall.RawConn) *sockProbe {
	p := &sockProbe{raw: raw}
	p.fn = func(fd uintptr) {
		n := uint32(syscall.SizeofTCPInfo)
		// syscall has no getsockopt for a struct; this is the one unsafe
		// use, on the probe's own buffer.
		_, _, p.errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&p.info)), uintptr(unsafe.Pointer(&n)), 0)
	}
	return p
}

// state reports whether the connection is still established both ways (a
// FIN or RST from the peer moves it to another state before any reader of
// the connection sees it), and how long ago data last arrived on it, by the
// kernel's clock, which a descheduled goroutine does not delay. ok is false
// when the kernel cannot say (p is nil, or the socket is not TCP).
func (p *sockProbe) state() (open bool, sinceData time.Duration, ok bool) {
	if p == nil {
		return false, 0, false
	}
	if err := p.raw.Control(p.fn); err != nil || p.errno != 0 {
		return false, 0, false
	}
	return p.info.State == tcpEstablished, time.Duration(p.info.Last_data_recv)*time.Millisecond + kernelTick, true
}
