package app

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dropExecutablePages unmaps (MADV_DONTNEED) the read-only private
// mappings of the running executable and returns how many there were.
func dropExecutablePages() (int, error) {
	// A debugger's breakpoints are private copies of text pages: dropping
	// them would remove the breakpoints. Leave a traced process alone.
	if status, err := os.ReadFile("/proc/self/status"); err != nil {
		return 0, err
	} else if traced(string(status)) {
		return 0, fmt.Errorf("a debugger is attached")
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// /proc/self/maps writes the device as major:minor in hex.
	dev := fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev))
	ms, err := readOnlyMappingsOf(f, dev, st.Ino)
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/maps: %w", err)
	}
	for _, m := range ms {
		// The addresses are the kernel's, not Go pointers: the raw system
		// call takes them as they are.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), unix.MADV_DONTNEED); errno != 0 {
			return 0, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
		}
	}
	return len(ms), nil
}
