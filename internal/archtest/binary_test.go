package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// The liveplane binary links no test code: no testing package (which
// also registers test flags) reaches it, directly or through a helper such
// as kubetest that `bench provision` shares with the tests.
func TestBinaryLinksNoTestingPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/cmd/liveplane").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list gave %d packages; is the module right?", len(deps))
	}
	for _, d := range deps {
		if d == "testing" || strings.HasPrefix(d, "testing/") {
			t.Errorf("cmd/liveplane links %s", d)
		}
	}
}
