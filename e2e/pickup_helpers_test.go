package e2e

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

var pickupLine = regexp.MustCompile(`msg="liveplane serving" .*pickup=(\S+)`)

// pickupAddr is the gateway's address, from the serving line.
func (s *server) pickupAddr(t *testing.T) string {
	t.Helper()
	m := pickupLine.FindStringSubmatch(s.log())
	if m == nil || m[1] == "off" {
		t.Fatalf("no pickup address in the log:\n%s", s.log())
	}
	return m[1]
}

// accountKey creates an account with an API key through the CLI.
func (s *server) accountKey(t *testing.T, name string) string {
	t.Helper()
	out, errOut, code := cli(t, []string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + s.token},
		"accounts", "create", "--name", name, "--with-key", "--output", "json")
	var res struct {
		APIKeySecret string `json:"apiKeySecret"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.APIKeySecret == "" {
		t.Fatalf("create account %s: exit %d %s %s", name, code, out, errOut)
	}
	return res.APIKeySecret
}

// requireTool skips, loudly, when a compatibility client is missing, and
// fails instead under the test command (LIVEPLANE_REQUIRE_COMPAT=1), which
// installs them.
func requireTool(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("LIVEPLANE_REQUIRE_COMPAT") == "1" {
		t.Fatalf("%s is missing but LIVEPLANE_REQUIRE_COMPAT=1: run ./scripts/test", what)
	}
	t.Skipf("SKIPPED: %s is missing (./scripts/test installs it)", what)
}
