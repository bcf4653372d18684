package app

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/liveplane/liveplane/internal/config"
)

// tuneGC sets serve's garbage collector, unless the environment does (GOGC,
// GOMEMLIMIT: Go reads those itself, and the operator's word wins).
//
// GC percent: every addMessage, uplink and live-log line allocates, and on
// the one core a benchmark gives serve, each collection cycle takes a
// quarter of the core while it marks. Go's default (100: collect when the
// heap doubled) ran several cycles a second at 10,000 adds/s; at 400 the
// ack p99 dropped by about a third (BENCHMARKS.md, "GC percent") for ~20 MiB
// more heap at that load. An idle serve allocates next to nothing, so its
// resident size does not change.
//
// Memory limit: a larger GC percent lets the heap reach five times the live
// heap, so inside a memory cgroup with a limit serve gets a soft limit of
// 90 % of it: nearing it, the collector runs as often as it must instead of
// the process being killed.
func tuneGC(cfg config.Serve, log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(int(cfg.GCPercent))
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if limit, ok := cgroupMemoryLimit(os.ReadFile); ok {
		soft := limit / 10 * 9
		debug.SetMemoryLimit(soft)
		log.Debug("soft memory limit from the memory cgroup", "limit_bytes", soft)
	}
}

// cgroupMemoryLimit reads the memory limit of the cgroup the process sees
// at /sys/fs/cgroup (a container's own): v2's memory.max, else v1's
// memory.limit_in_bytes. "max" and v1's near-2^63 mean none.
func cgroupMemoryLimit(read func(string) ([]byte, error)) (int64, bool) {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := read(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0, false // "max", or unlimited in v1
		}
		return n, true
	}
	return 0, false
}
