package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// PinSelf restricts this process to cpus and sets GOMAXPROCS to len(cpus),
// so the load generator cannot steal the server's cores (or the reverse).
//
// sched_setaffinity(0) changes only the calling thread, and by the time main
// runs a Go program already has several (sysmon, GC workers, the netpoller).
// So PinSelf pins every task in /proc/self/task; see PinPID. Threads created
// later inherit their creator's mask, so they are pinned too. Call it early,
// before work starts, so nothing runs on the wrong core meanwhile.
func PinSelf(cpus []int) error {
	if err := PinPID(os.Getpid(), cpus); err != nil {
		return err
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}

// PinPID restricts every thread of process pid to cpus. It repeats over
// /proc/PID/task until a pass finds no thread it has not pinned: a thread
// spawned mid-pass by a not-yet-pinned thread would otherwise escape with the
// old mask. Once a pass finds nothing new, every thread is pinned and every
// future one is born of a pinned thread.
func PinPID(pid int, cpus []int) error {
	set, err := cpuSet(cpus)
	if err != nil {
		return err
	}
	pinned := map[int]bool{}
	for range 100 {
		tids, err := tasks(pid)
		if err != nil {
			return fmt.Errorf("pin pid %d: %w", pid, err)
		}
		fresh := 0
		for _, tid := range tids {
			if pinned[tid] {
				continue
			}
			pinned[tid] = true
			fresh++
			err := unix.SchedSetaffinity(tid, &set)
			if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: the thread has exited
				return fmt.Errorf("pin pid %d thread %d to cpus %s: %w", pid, tid, FormatCPUs(cpus), err)
			}
		}
		if fresh == 0 {
			return nil
		}
	}
	return fmt.Errorf("pin pid %d: threads kept appearing", pid)
}

func tasks(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

func cpuSet(cpus []int) (unix.CPUSet, error) {
	var set unix.CPUSet
	if len(cpus) == 0 {
		return set, errors.New("pin: no cpus given")
	}
	for _, c := range cpus {
		if c < 0 || c > maxCPU {
			return set, fmt.Errorf("pin: cpu %d out of range 0..%d", c, maxCPU)
		}
		set.Set(c)
	}
	return set, nil
}

// StartPinned starts cmd restricted to cpus from its first instruction, with
// GOMAXPROCS=len(cpus) added to its environment for Go children.
//
// With taskset on PATH, cmd runs as "taskset -c LIST cmd...": visible in ps,
// and taskset execs, so cmd.Process is still the real child. Without it, cmd
// is forked from a thread pinned to cpus for the moment: a child inherits the
// forking thread's mask, so none of its threads ever runs elsewhere. (Pinning
// after start would race with the threads a Go child creates at once.)
func StartPinned(cmd *exec.Cmd, cpus []int) error {
	taskset, err := exec.LookPath("taskset")
	return startPinned(cmd, cpus, taskset, err == nil)
}

func startPinned(cmd *exec.Cmd, cpus []int, taskset string, useTaskset bool) error {
	set, err := cpuSet(cpus)
	if err != nil {
		return err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(len(cpus)))
	if useTaskset && cmd.Err == nil {
		cmd.Args = append([]string{"taskset", "-c", FormatCPUs(cpus), cmd.Path}, cmd.Args[1:]...)
		cmd.Path = taskset
		return cmd.Start()
	}

	errc := make(chan error, 1)
	go func() {
		// This goroutine owns its thread until it returns; the thread gets
		// its old mask back before anything else can run on it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			errc <- fmt.Errorf("pin: read own affinity: %w", err)
			return
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("pin: cpus %s: %w", FormatCPUs(cpus), err)
			return
		}
		err := cmd.Start()
		if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
			// Let the thread die with the goroutine rather than go back
			// to the scheduler with the child's mask.
			runtime.LockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
