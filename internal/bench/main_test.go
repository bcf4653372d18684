package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// pinHelperEnv makes the test binary run pinHelper instead of the tests.
const pinHelperEnv = "BENCH_TEST_PIN_HELPER"

// fakeServerBin is the testdata/fakeserver binary, built once by TestMain.
var fakeServerBin string

func TestMain(m *testing.M) {
	if os.Getenv(pinHelperEnv) != "" {
		os.Exit(pinHelper()) // re-executed by TestPinSelfPinsAllThreads
	}
	dir, err := os.MkdirTemp("", "bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fakeServerBin = filepath.Join(dir, "fakeserver")
	if out, err := exec.Command("go", "build", "-o", fakeServerBin, "./testdata/fakeserver").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fake server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
