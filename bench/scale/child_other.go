//go:build !linux

package scale

import "os/exec"

// killWithParent does nothing here: only Linux can tie a child's life to
// its parent's. The server still exits when its standard input closes,
// which the parent's death does.
func killWithParent(*exec.Cmd) {}
