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

// sockState asks the kernel about a TCP connection: whether it is still
// established both ways (a FIN or RST from the peer moves it to another
// state before any reader of the connection sees it), and how long ago data
// last arrived on it, by the kernel's clock, which a descheduled goroutine
// does not delay. ok is false when the kernel cannot say (not TCP).
func sockState(rc syscall.RawConn) (open bool, sinceData time.Duration, ok bool) {
	var info syscall.TCPInfo
	var errno syscall.Errno
	err := rc.Control(func(fd uintptr) {
		n := uint32(syscall.SizeofTCPInfo)
		// syscall has no getsockopt for a struct; this is the one unsafe
		// use, on a value that does not escape.
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
	})
	if err != nil || errno != 0 {
		return false, 0, false
	}
	return info.State == tcpEstablished, time.Duration(info.Last_data_recv)*time.Millisecond + kernelTick, true
}
