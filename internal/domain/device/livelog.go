package device

import (
	"encoding/hex"
	"fmt"
	"time"
)

// uplinkLine is the live-log line of an uplink. Data mirrors the uplink in
// JSON-friendly units: temperatures in °C, BSSIDs as aa:bb:cc:dd:ee:ff.
func uplinkLine(u Uplink, now time.Time) Line {
	temps := make([]float64, len(u.Temperatures))
	for i, t := range u.Temperatures {
		temps[i] = float64(t) / 100
	}
	scans := make([]map[string]any, len(u.WifiScans))
	for i, w := range u.WifiScans {
		scans[i] = map[string]any{"bssid": FormatBSSID(w.BSSID), "rssi": w.RSSIdBm}
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
	return Line{
		DeviceID: u.DeviceID, Timestamp: now, Type: "uplink",
		Message: fmt.Sprintf("Received uplink #%d", u.UplinkCount), Data: data,
	}
}

// FormatBSSID writes a MAC address the usual way.
func FormatBSSID(b [6]byte) string {
	s := hex.EncodeToString(b[:])
	return s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
}
