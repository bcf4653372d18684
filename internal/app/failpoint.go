package app

import (
	"os"
	"strings"
	"syscall"
)

// Failpoints let crash tests kill the process at an exact step, the way
// etcd's gofail does: LIVEPLANE_FAILPOINTS=after-commit,after-publish makes
// the process SIGKILL itself there. Unset in production; the check is one
// string lookup at start-up.
var failpoints = os.Getenv("LIVEPLANE_FAILPOINTS")

func failpointActive(name string) bool {
	for _, f := range strings.Split(failpoints, ",") {
		if f == name {
			return true
		}
	}
	return false
}

func die() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }

// failpoint wraps fn so that the process dies before fn runs.
func failpoint(name string, fn func()) func() {
	if !failpointActive(name) {
		return fn
	}
	return func() { die() }
}

func failpointSeqs(name string) func([]int64) {
	if !failpointActive(name) {
		return nil
	}
	return func([]int64) { die() }
}
