package scale

import (
	"os/exec"
	"syscall"
)

// killWithParent has the kernel kill the server process if this one dies
// without closing it.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
