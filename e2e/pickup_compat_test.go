package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// The compatibility suites in test/compat/pickup against the real binary:
// the MPR client's own transport library (rpc-websockets@7.11.2 on Node)
// and an independent Python client (Debian's python3-websockets).
func TestPickupCompatibilitySuites(t *testing.T) {
	s := startServe(t, "", nil)
	addr := s.pickupAddr(t)
	key := s.accountKey(t, "mediators")

	t.Run("rpc-websockets", func(t *testing.T) {
		_, nodeErr := exec.LookPath("node")
		_, modErr := os.Stat("../test/compat/pickup/node_modules/rpc-websockets/package.json")
		requireTool(t, "node with test/compat/pickup/node_modules (npm ci --prefix test/compat/pickup)", nodeErr == nil && modErr == nil)
		run(t, "../test/compat/pickup", []string{"LIVEPLANE_PICKUP_URL=ws://" + key + "@" + addr}, "node", "--test")
	})
	t.Run("python-websockets", func(t *testing.T) {
		err := exec.Command("/usr/bin/python3", "-c", "import websockets").Run()
		requireTool(t, "Debian python3-websockets", err == nil)
		run(t, "../test/compat/pickup", []string{"LIVEPLANE_PICKUP_ADDR=" + addr, "LIVEPLANE_PICKUP_TOKEN=" + key},
			"/usr/bin/python3", "-m", "unittest", "-v", "mpr_test.py")
	})
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	t.Logf("%s", out)
}
