package sqlstore

import (
	"os"
	"runtime"
	"sync"
)

// withOwnProc runs fn, which blocks in system calls (fsync) or runs long in
// SQLite's C-turned-Go code, with one more P than the process has, so the
// goroutines it would otherwise hold up keep running.
//
// Why: Go keeps a P attached to a thread in a system call until sysmon
// takes it back, and sysmon, once the process has been quiet for a few
// milliseconds, looks only every 10 ms (taking it after two looks). With
// GOMAXPROCS=1, the way serve runs on one core, a checkpoint's fsync of
// 5-30 ms therefore stopped every goroutine of the process for up to 20 ms:
// an execution trace at 10,000 addMessage/s showed adds runnable for 18-21 ms
// while the only P sat in the checkpointer's fsync, 11 % of the wall time.
// With a P of its own the checkpointer is one more thread for the kernel to
// share the core with (it sleeps in fsync and its copying is preempted by
// the kernel within a slice), like the runtime's own helper threads.
//
// The extra P exists only while fn runs. Calls are serialised; after the
// last one the setting is restored: to the operator's GOMAXPROCS when the
// environment names one, else to the runtime's default (which keeps
// following the container's CPU limit).
func withOwnProc(fn func()) {
	ownProcMu.Lock()
	defer ownProcMu.Unlock()
	n := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(n + 1)
	// Start fn from the global run queue: a P takes work from there only
	// once its own queue is empty, so fn lands on a P with nothing queued
	// behind it (or on the new P), and what was queued runs meanwhile.
	runtime.Gosched()
	defer func() {
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.SetDefaultGOMAXPROCS()
		} else {
			runtime.GOMAXPROCS(n)
		}
	}()
	fn()
}

var ownProcMu sync.Mutex
