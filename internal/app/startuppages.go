package app

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// releaseStartupMemory runs once, a second after serve is ready. It
// returns start-up garbage to the OS and unmaps the executable's read-only
// pages that start-up touched.
//
// Garbage: migrations, stream and consumer set-up in the embedded NATS
// server and the consumers' first pulls leave a few MiB that an idle server
// would keep resident until the heap grew enough for the next collection.
// One collection costs a few milliseconds of one core.
//
// Executable pages: every package's initialisation runs code and reads
// tables spread over the whole 60 MB executable, and the kernel maps 64 KiB
// around each page fault, so an idle serve had ~30 MiB of its executable
// mapped although it runs a small part of it (`liveplane version` alone
// peaks at 25 MiB). Dropping those mappings (MADV_DONTNEED on the read-only,
// file-backed mappings: text, rodata, pclntab) leaves the pages in the page
// cache, so what runs afterwards maps them back with a minor fault. It does
// not free page cache: a memory cgroup that was charged for the
// executable's pages still holds them until the kernel reclaims them, as it
// can any clean page cache.
func releaseStartupMemory(ctx context.Context, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Second):
	}
	debug.FreeOSMemory()
	n, err := dropExecutablePages()
	if err != nil {
		log.Debug("start-up pages of the executable kept", "err", err)
		return
	}
	log.Debug("start-up memory released", "executable_mappings_dropped", n)
}

// mapping is one line of /proc/self/maps.
type mapping struct {
	start, end uint64
	perms      string
}

// readOnlyMappingsOf parses /proc/self/maps and returns the read-only
// private mappings of the file dev:inode. Writable mappings (.data, .bss)
// are never returned: dropping them would discard the process's own data.
func readOnlyMappingsOf(r io.Reader, dev string, inode uint64) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		ino, err3 := strconv.ParseUint(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || end <= start {
			continue
		}
		perms := f[1]
		if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
			continue
		}
		if f[3] != dev || ino != inode {
			continue
		}
		out = append(out, mapping{start: start, end: end, perms: perms})
	}
	return out, sc.Err()
}

// traced reports whether /proc/self/status names a tracer (a debugger).
func traced(status string) bool {
	for l := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok {
			return strings.TrimSpace(v) != "0"
		}
	}
	return false
}
