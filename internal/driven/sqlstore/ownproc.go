package sqlstore

import (
	"os"
	"runtime"
	"runtime/debug"
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
//
// No garbage collection may start while the extra P exists. A cycle sizes
// its mark workers by the Ps it starts with and holds GOMAXPROCS where it
// is until it ends, so a cycle that started in the window ran on two Ps
// on serve's one core: the second P's idle mark worker took the core from
// the goroutines it shares it with for up to 10 ms at a time (an execution
// trace at 5,000 live deliveries a second: 2 of 17 cycles, 13.5 and 15.6
// ms long against 5-8 ms for the others). So collection is off for the
// window: turning it off waits for a running cycle's mark to end first,
// and the first allocation after the window starts the cycle that was
// due.
func withOwnProc(fn func()) {
	ownProcMu.Lock()
	defer ownProcMu.Unlock()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
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
