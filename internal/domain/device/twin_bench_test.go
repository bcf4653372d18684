package device

import (
	"testing"
	"time"
)

// BenchmarkObserveInSync is the per-uplink decision for a device in sync
// (the common case): 8 desired keys, 4 defaults, the device reports all.
func BenchmarkObserveInSync(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	def := Defaults{Version: 3, Values: Values{}}
	cfg := map[string]string{}
	for _, k := range []string{"A", "B", "C", "D"} {
		def.Values[k] = Entry{Value: "d" + k}
		cfg[k] = "d" + k
	}
	tw := Twin{Desired: Values{}, Reported: Values{}}
	for _, k := range []string{"E", "F", "G", "H", "I", "J", "K", "L"} {
		tw.Desired[k] = Entry{Value: "v" + k}
		cfg[k] = "v" + k
	}
	tw.Observe(Report{Boot: 1, Uplink: 1, Config: cfg}, def, 5, now)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t := tw
		out := t.Observe(Report{Boot: 1, Uplink: uint32(2 + i), Config: cfg}, def, 5, now)
		if out.Command != nil || out.Changed {
			b.Fatal("not in sync")
		}
	}
}
