//go:build unix

package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// runAsOwner makes cmd run as the owner of dir when the test runs as root.
func runAsOwner(cmd *exec.Cmd, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("owner of %s: unknown", dir)
	}
	if st.Uid == 0 {
		return nil
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: st.Uid, Gid: st.Gid}}
	return nil
}
