package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainSpawnsAndReports(t *testing.T) {
	needCPU0(t)
	jsonPath := filepath.Join(t.TempDir(), "result.json")
	t.Setenv("LIVEPLANE_TOKEN", "secret-token")
	out, stderr, err := runMain("ping", "--spawn", "--server-bin", fakeServerBin, "--server-cpus", "0",
		"--server-args", "--coap=127.0.0.1:0", "--client-cpus", "", "--rate", "200", "--duration", "200ms",
		"--warmup", "50ms", "--runs", "3", "--label", "engine=fake", "--json", jsonPath)
	if err != nil {
		t.Fatalf("Main: %v\nstderr:\n%s", err, stderr)
	}
	if !strings.Contains(out, "ping (open-loop, median of 3 runs)") || strings.Count(stderr, "run done") != 3 {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, stderr)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Workload != "ping" || len(res.Runs) != 3 || res.OK != 40 || res.Errors != 0 {
		t.Errorf("result %s: ok %d errors %d runs %d, want 40 ok per run and 3 runs", res.Workload, res.OK, res.Errors, len(res.Runs))
	}
	if res.Labels["engine"] != "fake" || res.Labels["server_cpus"] != "0" || res.Params["rate"] != "200" || res.Params["path"] != "/readyz" {
		t.Errorf("labels %v params %v", res.Labels, res.Params)
	}
	if rss, _ := res.Extra["server_rss_bytes"].(float64); rss <= 0 {
		t.Errorf("extra %v lacks server_rss_bytes", res.Extra)
	}
	if strings.Contains(string(b), "secret-token") {
		t.Error("the token leaked into the result")
	}
}
