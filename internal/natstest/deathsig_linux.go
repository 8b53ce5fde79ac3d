package natstest

import (
	"os/exec"
	"syscall"
)

// dieWithParent kills the server when the test process dies without its
// cleanup (a panic, a timeout), so no server outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
