package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// allowedCPUs reads Cpus_allowed_list of one task (or of pid's main thread).
func allowedCPUs(t testing.TB, statusPath string) string {
	t.Helper()
	b, err := os.ReadFile(statusPath)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list in %s", statusPath)
	return ""
}

func needCPU0(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || !set.IsSet(0) || set.Count() < 2 {
		t.Skip("needs CPU 0 and at least one other CPU available")
	}
}

// pinHelper runs in a child test process: it makes sure several threads
// exist, pins itself to CPU 0, spawns more threads, and reports every
// thread's mask. Exit 0 when all are pinned.
func pinHelper() int {
	block := make(chan struct{})
	for range 4 {
		go func() { runtime.LockOSThread(); <-block }() // each holds a thread
	}
	time.Sleep(50 * time.Millisecond)
	if err := PinSelf([]int{0}); err != nil {
		fmt.Println("PinSelf:", err)
		return 1
	}
	for range 4 {
		go func() { runtime.LockOSThread(); <-block }() // threads born after pinning
	}
	time.Sleep(50 * time.Millisecond)
	tids, err := tasks(os.Getpid())
	if err != nil {
		fmt.Println(err)
		return 1
	}
	bad := 0
	for _, tid := range tids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
		if !bytes.Contains(b, []byte("Cpus_allowed_list:\t0\n")) {
			fmt.Printf("thread %d not pinned\n", tid)
			bad++
		}
	}
	fmt.Printf("threads=%d unpinned=%d gomaxprocs=%d\n", len(tids), bad, runtime.GOMAXPROCS(0))
	if bad > 0 || runtime.GOMAXPROCS(0) != 1 || len(tids) < 8 {
		return 1
	}
	return 0
}

func TestPinSelfPinsAllThreads(t *testing.T) {
	needCPU0(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), pinHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func TestStartPinned(t *testing.T) {
	needCPU0(t)
	before := allowedCPUs(t, "/proc/self/status")
	for _, useTaskset := range []bool{false, true} {
		t.Run(fmt.Sprintf("taskset=%v", useTaskset), func(t *testing.T) {
			taskset, err := exec.LookPath("taskset")
			if useTaskset && err != nil {
				t.Skip("no taskset")
			}
			cmd := exec.Command("sleep", "30")
			if err := startPinned(cmd, []int{0}, taskset, useTaskset); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			time.Sleep(100 * time.Millisecond) // let taskset exec the real command
			if got := allowedCPUs(t, fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); got != "0" {
				t.Errorf("child allowed on %q, want 0", got)
			}
			if !strings.Contains(strings.Join(cmd.Env, " "), "GOMAXPROCS=1") {
				t.Error("GOMAXPROCS=1 not in the child's environment")
			}
		})
	}
	if after := allowedCPUs(t, "/proc/self/status"); after != before {
		t.Errorf("our own mask changed from %q to %q", before, after)
	}
}
