//go:build unix && !linux

package kubetest

import "syscall"

// sysProcAttr puts a child in its own process group, so stop reaches its
// whole tree.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
