package coap

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/liveplane/liveplane/internal/domain/device"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

var rebootReasons = map[lpv1.RebootReason]device.RebootReason{
	lpv1.RebootReason_REBOOT_REASON_UNSPECIFIED: device.RebootUnspecified,
	lpv1.RebootReason_REBOOT_REASON_POWER_ON:    device.RebootPowerOn,
	lpv1.RebootReason_REBOOT_REASON_WATCHDOG:    device.RebootWatchdog,
	lpv1.RebootReason_REBOOT_REASON_BROWNOUT:    device.RebootBrownout,
	lpv1.RebootReason_REBOOT_REASON_SOFTWARE:    device.RebootSoftware,
	lpv1.RebootReason_REBOOT_REASON_FAULT:       device.RebootFault,
	lpv1.RebootReason_REBOOT_REASON_OTHER:       device.RebootOther,
}

var keyStatuses = map[lpv1.ConfigKeyStatus]device.KeyStatus{
	lpv1.ConfigKeyStatus_CONFIG_KEY_STATUS_APPLIED:     device.KeyApplied,
	lpv1.ConfigKeyStatus_CONFIG_KEY_STATUS_REJECTED:    device.KeyRejected,
	lpv1.ConfigKeyStatus_CONFIG_KEY_STATUS_UNKNOWN_KEY: device.KeyUnknown,
}

var unmarshal = proto.UnmarshalOptions{DiscardUnknown: true}

// DecodeUplink parses a liveplane.v1.Uplink body into the domain's form.
// Errors describe what is malformed (for the device's live log); limits are
// the domain's to check.
func DecodeUplink(b []byte) (device.Uplink, error) {
	var m lpv1.Uplink
	if err := unmarshal.Unmarshal(b, &m); err != nil {
		return device.Uplink{}, errors.New("not a liveplane.v1.Uplink protobuf message")
	}
	u := device.Uplink{
		DeviceID: m.GetDeviceId(), Credential: m.GetCredential(), BootCount: m.GetBootCount(),
		UplinkCount: m.GetUplinkCount(), Config: m.GetConfig(), Temperatures: m.GetTemperaturesCentiCelsius(),
		Firmware: m.GetFirmwareVersion(), Hardware: m.GetHardwareVersion(), DeviceTimeMs: m.GetDeviceTimeUnixMs(),
		ProvisioningKey: m.GetProvisioningKey(),
	}
	var ok bool
	if u.RebootReason, ok = rebootReasons[m.GetRebootReason()]; !ok {
		return device.Uplink{}, fmt.Errorf("reboot_reason: unknown value %d", m.GetRebootReason())
	}
	if a := m.GetActivity(); a != nil {
		u.Activity = device.Activity{Sleep: a.GetSleepSeconds(), Modem: a.GetModemSeconds(),
			GNSS: a.GetGnssSeconds(), WiFi: a.GetWifiSeconds(), Other: a.GetOtherSeconds()}
	}
	for _, w := range m.GetWifiScans() {
		if len(w.GetBssid()) != 6 {
			return device.Uplink{}, fmt.Errorf("wifi_scans: bssid must be 6 bytes, not %d", len(w.GetBssid()))
		}
		s := device.WifiScan{RSSIdBm: w.GetRssiDbm()}
		copy(s.BSSID[:], w.GetBssid())
		u.WifiScans = append(u.WifiScans, s)
	}
	if ack := m.GetConfigAck(); ack != nil {
		u.Ack.AppliedVersion = ack.GetAppliedVersion()
		for _, r := range ack.GetResults() {
			st, ok := keyStatuses[r.GetStatus()]
			if !ok {
				return device.Uplink{}, fmt.Errorf("config_ack.results: unknown status %d", r.GetStatus())
			}
			u.Ack.Results = append(u.Ack.Results, device.KeyResult{Key: r.GetKey(), Status: st, Reason: r.GetReason()})
		}
	}
	return u, nil
}

// PeekDeviceID finds field 1 (device_id) in a body that does not decode as a
// whole, so the malformed uplink can be reported in that device's live log.
func PeekDeviceID(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}

var marshal = proto.MarshalOptions{Deterministic: true}

// EncodeDownlink returns the reply body: empty when nothing is pending.
// Deterministic, so a duplicate uplink gets byte-identical bytes.
func EncodeDownlink(d device.Downlink) ([]byte, error) {
	if d.UpdateConfig == nil && d.DeviceKey == "" {
		return nil, nil
	}
	m := &lpv1.Downlink{DeviceKey: d.DeviceKey, Psk: d.PSK}
	if c := d.UpdateConfig; c != nil {
		m.UpdateConfig = &lpv1.UpdateConfigCommand{Version: c.Version, Keys: c.Keys}
	}
	b, err := marshal.Marshal(m)
	if err == nil && len(b) > device.MaxDownlinkBytes {
		return nil, fmt.Errorf("downlink of %d bytes exceeds %d", len(b), device.MaxDownlinkBytes)
	}
	return b, err
}
