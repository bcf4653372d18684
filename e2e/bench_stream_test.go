package e2e

import (
	"encoding/json"
	"testing"
)

// `liveplane bench stream` end to end, briefly: a spawned serve, real CoAP
// uplinks, WebSocket subscribers; the steady mode with background devices
// and the storm mode must both deliver every acknowledged uplink exactly
// once, in order, without gaps.
func TestBenchStreamSmoke(t *testing.T) {
	for _, mode := range [][]string{
		{"--mode", "steady", "--devices", "5", "--device-rate", "4", "--subscribers", "4"},
		{"--mode", "storm", "--subscribers", "4", "--storm-every", "300ms"},
	} {
		args := append([]string{"bench", "stream", "--spawn", "--server-cpus", "0", "--client-cpus", "none",
			"--rate", "100", "--duration", "1s", "--warmup", "200ms", "--json", "-"}, mode...)
		out, errOut, code := cli(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", mode, code, errOut)
		}
		var res struct {
			Workload string         `json:"workload"`
			Extra    map[string]any `json:"extra"`
			Latency  struct {
				Count int64 `json:"count"`
			} `json:"latency"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %v\n%s", mode, err, out)
		}
		x := res.Extra
		if x["lost"] != 0.0 || x["duplicates"] != 0.0 || x["gaps"] != 0.0 || x["order_gaps"] != 0.0 {
			t.Errorf("%s: lost %v duplicates %v gaps %v order_gaps %v (serve dropped %v live-log lines, retried %v publishes)",
				res.Workload, x["lost"], x["duplicates"], x["gaps"], x["order_gaps"], x["server_livelog_dropped"], x["server_livelog_publish_retries"])
		}
		if acked, _ := x["hot_uplinks_acked"].(float64); acked < 100 || res.Latency.Count < int64(acked)*4/2 {
			t.Errorf("%s: acked %v, delivered latencies %d", res.Workload, x["hot_uplinks_acked"], res.Latency.Count)
		}
		if res.Workload == "stream/storm" && x["sockets_cut"].(float64) < 4 {
			t.Errorf("storm cut %v sockets", x["sockets_cut"])
		}
	}
}
