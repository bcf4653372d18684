package app

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func rssFileKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// The test binary's own read-only pages: dropping them lowers its
// file-backed RSS, and the code keeps running (it faults back what it uses).
func TestDropExecutablePages(t *testing.T) {
	before := rssFileKiB(t)
	n, err := dropExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKiB(t)
	if n < 2 || after >= before-1024 {
		t.Fatalf("dropped %d mappings; RssFile %d -> %d KiB", n, before, after)
	}
	t.Logf("dropped %d mappings; RssFile %d -> %d KiB", n, before, after)
}
