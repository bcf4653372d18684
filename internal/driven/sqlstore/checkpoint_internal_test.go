package sqlstore

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

// Under a steady stream of commits a passive checkpoint from the
// checkpointer's connection rarely copies the last frame (commits land
// while it runs), so SQLite seldom starts the WAL over and it grows, into
// blocks the file system must allocate at every fsync. The funnel's
// catch-up runs between two group commits: it copies every frame, and the
// next commit starts the WAL over (the WAL header's checkpoint sequence
// number counts the restarts), while the writes go on.
func TestSQLiteWriterCatchUpStartsTheWALOver(t *testing.T) {
	defer func(n int64) { walReuseFrames = n }(walReuseFrames)
	walReuseFrames = 1 << 40 // only the test's catch-up
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lp.db")
	s, err := Open(ctx, Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.update(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, "CREATE TABLE walfill (b BLOB)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	restarts := func() uint32 {
		f, err := os.Open(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var hdr [16]byte
		if _, err := f.ReadAt(hdr[:], 0); err != nil {
			t.Fatal(err)
		}
		return binary.BigEndian.Uint32(hdr[12:]) // checkpoint sequence number
	}
	blob := make([]byte, 4000)
	insert := func(tx *Tx) error {
		_, err := tx.exec(ctx, "INSERT INTO walfill(b) VALUES (?)", blob)
		return err
	}
	if err := s.update(ctx, insert); err != nil {
		t.Fatal(err)
	}
	// Eight writers keep the funnel's queue from ever running dry, as
	// thousands of adds per second do: the commits are back to back.
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for wctx.Err() == nil {
				if err := s.update(ctx, insert); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	time.Sleep(200 * time.Millisecond)
	for i := range 4 {
		first := restarts()
		if i%2 == 1 {
			// The checkpointer's way: passes and syncs until a round is
			// quick, then the same catch-up.
			if err := s.ckpt.reuse(); err != nil {
				t.Fatal(err)
			}
		} else {
			walFrames, moved, err := s.funnel.checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			if walFrames == 0 || moved != walFrames {
				t.Fatalf("the writer's checkpoint moved %d of %d WAL pages; want all of them", moved, walFrames)
			}
		}
		for deadline := time.Now().Add(5 * time.Second); restarts() == first; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the WAL did not start over after the writer's checkpoint")
			}
		}
	}
}

// withOwnProc lends the process one P while fn runs and gives it back:
// to the operator's GOMAXPROCS when the environment sets one, otherwise to
// the runtime's default.
func TestWithOwnProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Run("default", func(t *testing.T) {
		t.Setenv("GOMAXPROCS", "")
		os.Unsetenv("GOMAXPROCS")
		runtime.SetDefaultGOMAXPROCS()
		def := runtime.GOMAXPROCS(0)
		withOwnProc(func() {
			if got := runtime.GOMAXPROCS(0); got != def+1 {
				t.Errorf("inside: GOMAXPROCS %d, want %d", got, def+1)
			}
		})
		if got := runtime.GOMAXPROCS(0); got != def {
			t.Errorf("after: GOMAXPROCS %d, want the default %d", got, def)
		}
	})
	t.Run("operator's", func(t *testing.T) {
		t.Setenv("GOMAXPROCS", "1")
		runtime.GOMAXPROCS(1)
		withOwnProc(func() {
			if got := runtime.GOMAXPROCS(0); got != 2 {
				t.Errorf("inside: GOMAXPROCS %d, want 2", got)
			}
		})
		if got := runtime.GOMAXPROCS(0); got != 1 {
			t.Errorf("after: GOMAXPROCS %d, want the operator's 1", got)
		}
	})
}

// No collection starts while withOwnProc's extra P exists, and the
// collector's setting is back afterwards.
func TestWithOwnProcHoldsCollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(250))
	withOwnProc(func() {
		if got := debug.SetGCPercent(-1); got != -1 {
			t.Errorf("inside: GC percent %d, want -1 (off)", got)
		}
	})
	if got := debug.SetGCPercent(250); got != 250 {
		t.Errorf("after: GC percent %d, want 250", got)
	}
}
