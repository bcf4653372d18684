package app

import (
	"errors"
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/liveplane/liveplane/internal/config"
)

func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
		ok    bool
	}{
		{"v2 limit", map[string]string{"/sys/fs/cgroup/memory.max": "536870912\n"}, 536870912, true},
		{"v2 unlimited", map[string]string{"/sys/fs/cgroup/memory.max": "max\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n"}, 0, false},
		{"v1 limit", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n"}, 1073741824, true},
		{"v1 unlimited", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0, false},
		{"no cgroup files", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(f string) ([]byte, error) {
				if s, ok := tc.files[f]; ok {
					return []byte(s), nil
				}
				return nil, errors.New("no such file")
			}
			got, ok := cgroupMemoryLimit(read)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("cgroupMemoryLimit = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// --gc-percent applies unless the operator set GOGC.
func TestTuneGCLeavesGOGCToTheOperator(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	log := slog.New(slog.DiscardHandler)
	t.Setenv("GOMEMLIMIT", "1GiB") // keep this process's limit alone
	t.Setenv("GOGC", "")
	tuneGC(config.Serve{GCPercent: 300}, log)
	if got := debug.SetGCPercent(100); got != 300 {
		t.Fatalf("GC percent %d, want --gc-percent's 300", got)
	}
	t.Setenv("GOGC", "150")
	tuneGC(config.Serve{GCPercent: 300}, log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d with GOGC set; want it untouched (100)", got)
	}
}
