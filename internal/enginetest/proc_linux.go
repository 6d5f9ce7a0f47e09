//go:build linux

package enginetest

import (
	"os/exec"
	"syscall"
)

// configureCmd makes the kernel kill the JVM if the test process dies (e.g. go test's
// timeout), so no engine outlives its test binary.
func configureCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
