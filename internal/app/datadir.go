package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dataDir is the process's claim on its data directory: the SQLite file and
// the embedded NATS store must never be shared by two processes, so serve
// holds an exclusive lock on DATA_DIR/liveplane.lock while it runs.
type dataDir struct {
	path string
	lock *os.File
}

func claimDataDir(path string) (*dataDir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", path, err)
	}
	f, err := os.OpenFile(filepath.Join(path, "liveplane.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(f.Name())
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--data-dir %s is in use by another liveplane process (pid %s)", path, strings.TrimSpace(string(b)))
		}
		return nil, fmt.Errorf("--data-dir %s: lock: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &dataDir{path: path, lock: f}, nil
}

func (d *dataDir) release() {
	_ = syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN)
	d.lock.Close()
}

// writeSecret writes a secret file atomically with mode 0600: a crash leaves
// either no file or the whole one.
func writeSecret(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
