package bench

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
)

// harnessT lets `bench provision` start real clusters with
// internal/testinfra/kubetest, the same launcher the tests use, outside a
// test: it is a kubetest.TB whose Fatalf panics (recovered by withHarness)
// and whose Cleanup functions run at close.
type harnessT struct {
	log *slog.Logger
	dir string

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

var _ kubetest.TB = (*harnessT)(nil)

type harnessFatal struct{ msg string }

func newHarnessT(log *slog.Logger) (*harnessT, error) {
	dir, err := os.MkdirTemp("", "liveplane-bench-kube-")
	if err != nil {
		return nil, err
	}
	return &harnessT{log: log, dir: dir}, nil
}

func (h *harnessT) Helper() {}

func (h *harnessT) Logf(format string, args ...any) { h.log.Info(fmt.Sprintf(format, args...)) }

func (h *harnessT) Fatalf(format string, args ...any) {
	h.mu.Lock()
	h.failed = true
	h.mu.Unlock()
	panic(harnessFatal{fmt.Sprintf(format, args...)})
}

func (h *harnessT) Skipf(format string, args ...any) { h.Fatalf(format, args...) }

func (h *harnessT) Failed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed
}

func (h *harnessT) Cleanup(f func()) {
	h.mu.Lock()
	h.cleanups = append(h.cleanups, f)
	h.mu.Unlock()
}

func (h *harnessT) TempDir() string {
	d, err := os.MkdirTemp(h.dir, "t")
	if err != nil {
		h.Fatalf("temp dir: %v", err)
	}
	return d
}

// close runs the cleanups, last registered first, and removes the files.
func (h *harnessT) close() {
	h.mu.Lock()
	fs := slices.Clone(h.cleanups)
	h.cleanups = nil
	h.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	_ = os.RemoveAll(h.dir)
}

// withHarness runs fn, turning a harness Fatalf into an error.
func withHarness(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(harnessFatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s", f.msg)
		}
	}()
	fn()
	return nil
}
