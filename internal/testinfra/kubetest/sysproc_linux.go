package kubetest

import "syscall"

// sysProcAttr puts a child in its own process group, so stop reaches its
// whole tree, and has the kernel kill it if the test binary dies first (a
// panic or `go test -timeout`), so no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
