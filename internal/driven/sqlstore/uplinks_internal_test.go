package sqlstore

import (
	"encoding/json"
	"testing"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// The device_config columns hold what json.Marshal made of the report; the
// append-based encoders must not change a byte of it.
func TestReportDocumentsMatchEncodingJSON(t *testing.T) {
	for _, cfg := range []map[string]string{nil, {}, benchConfig(20), {"b": "<&>\u2028", "a": "\xff\"\\\n"}} {
		want, _ := json.Marshal(cfg)
		if got := device.AppendJSONStringMap(nil, cfg); string(got) != string(want) {
			t.Errorf("config %q: got %s, want %s", cfg, got, want)
		}
	}
	for _, ack := range []device.ConfigAck{{}, {AppliedVersion: 7, Results: []device.KeyResult{}},
		{AppliedVersion: 1 << 63, Results: []device.KeyResult{{Key: "A", Status: device.KeyRejected, Reason: "<no>"}, {Key: "B", Status: device.KeyApplied}}}} {
		want, _ := json.Marshal(ack)
		if got := appendAckJSON(nil, ack); string(got) != string(want) {
			t.Errorf("ack %+v: got %s, want %s", ack, got, want)
		}
	}
}
