package device

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// referenceLine is how uplink lines were built before AppendJSON: a map
// encoded by encoding/json. The bytes it gives are the contract.
func referenceLine(u Uplink, now time.Time) Line {
	temps := make([]float64, len(u.Temperatures))
	for i, t := range u.Temperatures {
		temps[i] = float64(t) / 100
	}
	scans := make([]map[string]any, len(u.WifiScans))
	for i, w := range u.WifiScans {
		s := hex.EncodeToString(w.BSSID[:])
		bssid := s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
		scans[i] = map[string]any{"bssid": bssid, "rssi": w.RSSIdBm}
	}
	data := map[string]any{
		"bootCount": u.BootCount, "uplinkCount": u.UplinkCount,
		"activity": map[string]uint32{
			"sleep": u.Activity.Sleep, "modem": u.Activity.Modem, "gnss": u.Activity.GNSS,
			"wifi": u.Activity.WiFi, "other": u.Activity.Other,
		},
		"temperatures": temps, "wifiScans": scans,
	}
	if u.RebootReason != "" {
		data["rebootReason"] = string(u.RebootReason)
	}
	if len(u.Config) > 0 {
		data["config"] = u.Config
	}
	if u.Ack.AppliedVersion != 0 {
		data["appliedVersion"] = u.Ack.AppliedVersion
	}
	if u.Firmware != "" {
		data["firmware"] = u.Firmware
	}
	if u.Hardware != "" {
		data["hardware"] = u.Hardware
	}
	if u.DeviceTimeMs != 0 {
		data["deviceTime"] = time.UnixMilli(u.DeviceTimeMs).UTC()
	}
	return Line{DeviceID: u.DeviceID, Timestamp: now, Type: "uplink",
		Message: fmt.Sprintf("Received uplink #%d", u.UplinkCount), Data: data}
}

// referenceJSON encodes a line the way encoding/json did before Line had
// a MarshalJSON method.
func referenceJSON(l Line) ([]byte, error) {
	type plain Line
	return json.Marshal(plain(l))
}

func checkLineJSON(t *testing.T, u Uplink, now time.Time) {
	t.Helper()
	want, werr := referenceJSON(referenceLine(u, now))
	got, gerr := uplinkLine(u, now).AppendJSON(nil)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("errors differ: reference %v, AppendJSON %v", werr, gerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("uplink line JSON differs\n got %s\nwant %s", got, want)
	}
	viaJSON, err := json.Marshal(uplinkLine(u, now))
	if gerr == nil && (err != nil || !bytes.Equal(viaJSON, want)) {
		t.Fatalf("json.Marshal(Line) differs: %s %v", viaJSON, err)
	}
}

func TestUplinkLineJSONMatchesContract(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 50, 1, 123456789, time.UTC)
	full := benchUplink(7)
	full.Credential = ""
	for name, u := range map[string]Uplink{
		"full":    full,
		"minimal": {DeviceID: benchDevice, UplinkCount: 1},
		"odd strings": {DeviceID: benchDevice, UplinkCount: 4_294_967_295, BootCount: 9, Firmware: "<b>&\"\\\u2028\u2029\x00\x1f\x7f\b\f\n\r\t",
			Hardware: "\xff\xfeé😀", Config: map[string]string{"b": "<>", "a": "\xc3", "A": "", "a.b-c_d": "x\u2029"},
			Temperatures: []int32{0, 1, -1, 10, -27315, 20000, 2150}, DeviceTimeMs: -1,
			WifiScans: []WifiScan{{BSSID: [6]byte{0, 0xff, 0x10, 0xab, 0xcd, 0xef}, RSSIdBm: -127}}},
		"device time far out": {DeviceID: benchDevice, UplinkCount: 2, DeviceTimeMs: 1 << 62},
	} {
		t.Run(name, func(t *testing.T) { checkLineJSON(t, u, now) })
	}
	// Lines with a Data map (error and config lines) encode as before too.
	l := Line{DeviceID: benchDevice, Timestamp: now, Type: "config", Message: "Sent <v2>", Data: map[string]any{"k": 1}}
	want, _ := referenceJSON(l)
	if got, err := l.AppendJSON(nil); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("data line: %s %v, want %s", got, err, want)
	}
	l.Data = nil
	want, _ = referenceJSON(l)
	if got, err := l.AppendJSON([]byte("x")); err != nil || !bytes.Equal(got[1:], want) {
		t.Fatalf("line without data: %s %v, want %s", got, err, want)
	}
}

// FuzzUplinkLineJSON: for any uplink, AppendJSON gives the bytes
// encoding/json gave for the map-built line.
func FuzzUplinkLineJSON(f *testing.F) {
	f.Add("1.2.3", "rev-b", "INTERVAL", "60", int32(2150), int64(1_700_000_000_000), uint32(7), []byte{0xaa, 1, 2, 3, 4, 5})
	f.Add("<&>", "\xff", "a\u2028", "\"\\\x00", int32(-27315), int64(-62_135_596_800_001), uint32(1), []byte{})
	f.Add("", "", "", "", int32(0), int64(253_402_300_800_000), uint32(0), []byte{1, 2, 3, 4, 5, 6, 7})
	now := time.Date(2026, 11, 23, 14, 50, 1, 0, time.UTC)
	f.Fuzz(func(t *testing.T, fw, hw, k, v string, temp int32, devTime int64, n uint32, bssid []byte) {
		u := Uplink{DeviceID: fw + hw, UplinkCount: n, BootCount: n / 3, Firmware: fw, Hardware: hw,
			RebootReason: RebootReason(v), Config: map[string]string{k: v, v: k, "Z": fw},
			Temperatures: []int32{temp, temp / 7}, DeviceTimeMs: devTime,
			Activity: Activity{Sleep: n, Modem: n / 2, GNSS: 1, WiFi: uint32(temp), Other: 0},
			Ack:      ConfigAck{AppliedVersion: uint64(devTime)}}
		if len(bssid) >= 6 {
			var w WifiScan
			copy(w.BSSID[:], bssid)
			w.RSSIdBm = temp
			u.WifiScans = append(u.WifiScans, w, w)
		}
		checkLineJSON(t, u, now.Add(time.Duration(devTime)))
	})
}
