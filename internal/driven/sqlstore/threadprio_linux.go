package sqlstore

import "syscall"

// lowerThreadPriority lowers the CPU priority of the calling thread (which
// the caller has locked its goroutine to) by nice steps, up to 19.
func lowerThreadPriority(steps int) (from, to int, err error) {
	tid := syscall.Gettid()
	// The raw system call answers 20 - nice.
	raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return 0, 0, err
	}
	from = 20 - raw
	to = min(from+steps, 19)
	return from, to, syscall.Setpriority(syscall.PRIO_PROCESS, tid, to)
}
