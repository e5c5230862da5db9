package testenv

import "syscall"

// dieWithParent makes a child server die with the test binary, even when the
// test is killed by its timeout and cleanups never run.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
