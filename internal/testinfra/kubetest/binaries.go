// Package kubetest runs real Kubernetes control planes for tests: etcd,
// kube-apiserver and kube-controller-manager as child processes on loopback,
// built from the Go module proxy by scripts/kube-build (see tools/kube).
// Never fakes: what passes here passes against a real cluster's API.
//
// One etcd serves several apiservers; each uses its own --etcd-prefix, so
// each is an independent cluster:
//
//	etcd := kubetest.Etcd(t)
//	c1 := kubetest.APIServer(t, etcd, "c1", kubetest.WithControllers())
//	c2 := kubetest.APIServer(t, etcd, "c2")
//	client := kubernetes.NewForConfigOrDie(c1.RestConfig())
//
// Without binaries (no Go toolchain, no module proxy) the tests skip loudly;
// with LIVEPLANE_REQUIRE_KUBE=1 (CI) they fail instead.
package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// EnvBin names a directory holding prebuilt etcd, kube-apiserver and
	// kube-controller-manager; when set, scripts/kube-build is not run.
	EnvBin = "LIVEPLANE_KUBE_BIN"
	// EnvRequire, set to 1, turns missing binaries into a test failure.
	EnvRequire = "LIVEPLANE_REQUIRE_KUBE"

	buildTimeout = 30 * time.Minute // a cold build takes 4 to 6 minutes on 2 cores
)

var binaryNames = []string{"etcd", "kube-apiserver", "kube-controller-manager"}

// The build runs once per test binary; every later call reuses its result.
var built struct {
	once sync.Once
	dir  string
	err  error
}

// Binaries returns the directory holding etcd, kube-apiserver and
// kube-controller-manager: $LIVEPLANE_KUBE_BIN, or what scripts/kube-build
// prints (building them on first use, cached under .cache/kube after).
func Binaries(t TB) string {
	t.Helper()
	built.once.Do(func() {
		if d := os.Getenv(EnvBin); d != "" {
			built.dir, built.err = d, checkBinaries(d)
			return
		}
		built.dir, built.err = build()
	})
	if built.err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("kubetest: Kubernetes binaries unavailable and %s=1: %v", EnvRequire, built.err)
		}
		t.Skipf("SKIPPED: real kube-apiserver tests need Kubernetes binaries (%v); "+
			"run scripts/kube-build or set %s; %s=1 makes this a failure", built.err, EnvBin, EnvRequire)
	}
	return built.dir
}

func checkBinaries(dir string) error {
	for _, b := range binaryNames {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s: no executable %s", dir, b)
		}
	}
	return nil
}

// build runs scripts/kube-build from the repository root, in its own
// process group so a timeout also stops the go build it started.
func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "kube-build"))
	cmd.Dir = root
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/kube-build: %v: %s", err, lastLines(errOut.String(), 20))
	}
	dir := strings.TrimSpace(out.String())
	return dir, checkBinaries(dir)
}

// repoRoot walks up from the working directory (a package directory under
// go test) to the directory holding scripts/kube-build.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "kube-build")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("scripts/kube-build not found above the working directory")
		}
		dir = parent
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TB is the part of testing.TB the launcher uses. A *testing.T is one; so
// is `liveplane bench provision`'s harness, which starts the same real
// clusters outside a test without linking the testing package into the
// binary.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(func())
	TempDir() string
}
