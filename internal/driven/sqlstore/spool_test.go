package sqlstore_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

func spoolRecs(n int) []device.Record {
	id := domain.NewID()
	out := make([]device.Record, n)
	for i := range out {
		out[i] = device.Record{Uplink: device.Uplink{DeviceID: id, BootCount: 1, UplinkCount: uint32(i + 1),
			Temperatures: []int32{int32(i)}}, ReceivedAt: time.Now().UTC()}
	}
	return out
}

func TestSpoolSurvivesReopenAndTornTail(t *testing.T) {
	dir := t.TempDir()
	sp, err := sqlstore.OpenSpool(dir, sqlstore.SpoolOptions{SegmentBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(spoolRecs(30)); err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(spoolRecs(5)); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	// A crash mid-append leaves a torn frame at the end of the last segment.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2 (the second append rotated)", len(segs))
	}
	f, _ := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, '{', '"'})
	f.Close()

	sp, err = sqlstore.OpenSpool(dir, sqlstore.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Depth() != 35 {
		t.Fatalf("depth after reopen %d, want 35", sp.Depth())
	}
	// A failing apply keeps everything for the next try.
	if err := sp.Replay(func([]device.Record) error { return os.ErrDeadlineExceeded }); err == nil || sp.Depth() != 35 {
		t.Fatalf("failed replay: %v, depth %d", err, sp.Depth())
	}
	var got int
	if err := sp.Replay(func(r []device.Record) error { got += len(r); return nil }); err != nil {
		t.Fatal(err)
	}
	if got != 35 || sp.Depth() != 0 {
		t.Fatalf("replayed %d, depth %d", got, sp.Depth())
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 0 {
		t.Fatalf("segments left after replay: %v", segs)
	}
}

func TestSpoolIsBounded(t *testing.T) {
	sp, err := sqlstore.OpenSpool(t.TempDir(), sqlstore.SpoolOptions{MaxBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		full = sp.Append(spoolRecs(5))
	}
	if !domain.Is(full, domain.CodeUnavailable) {
		t.Fatalf("append to a full spool: %v, want unavailable", full)
	}
}
