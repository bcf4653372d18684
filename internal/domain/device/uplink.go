package device

import (
	"time"
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
)

// Uplink is one decoded message from a device (liveplane.v1.Uplink).
type Uplink struct {
	DeviceID   string
	Credential string // the device key on plain UDP; empty over DTLS
	// ProvisioningKey enrols an unknown device (see Service.Ingest).
	ProvisioningKey string
	BootCount       uint32
	RebootReason    RebootReason
	UplinkCount     uint32
	Config          map[string]string
	Ack             ConfigAck
	Activity        Activity
	Temperatures    []int32 // centi-degrees Celsius
	WifiScans       []WifiScan
	Firmware        string
	Hardware        string
	DeviceTimeMs    int64
}

// RebootReason is why the device last booted; stored by name.
type RebootReason string

const (
	RebootUnspecified RebootReason = ""
	RebootPowerOn     RebootReason = "power_on"
	RebootWatchdog    RebootReason = "watchdog"
	RebootBrownout    RebootReason = "brownout"
	RebootSoftware    RebootReason = "software"
	RebootFault       RebootReason = "fault"
	RebootOther       RebootReason = "other"
)

// Activity is seconds per state since the previous uplink.
type Activity struct {
	Sleep, Modem, GNSS, WiFi, Other uint32
}

// WifiScan is one access point seen.
type WifiScan struct {
	BSSID   [6]byte
	RSSIdBm int32
}

// KeyStatus is a device's verdict on one key of an UpdateConfigCommand.
type KeyStatus string

const (
	KeyApplied  KeyStatus = "applied"
	KeyRejected KeyStatus = "rejected"
	KeyUnknown  KeyStatus = "unknown_key"
)

// ConfigAck echoes the last desired-config version the device applied.
type ConfigAck struct {
	AppliedVersion uint64
	Results        []KeyResult
}

type KeyResult struct {
	Key    string
	Status KeyStatus
	Reason string
}

// Key identifies an uplink: a retransmission, or the same uplink from a new
// source address, carries the same key and is stored once.
type Key struct {
	DeviceID    string
	BootCount   uint32
	UplinkCount uint32
}

func (u Uplink) Key() Key { return Key{u.DeviceID, u.BootCount, u.UplinkCount} }

// Record is what the store keeps of an uplink: the uplink without its
// credential, stamped with the time the server received it.
type Record struct {
	Uplink
	ReceivedAt time.Time
}

// Limits of an uplink; docs/device-protocol.md and device.proto document the
// same numbers. MaxUplinkBytes is the encoded body (RFC 7252's 1,152-byte
// payload bound when the path MTU is unknown).
const (
	MaxUplinkBytes        = 1152
	MaxDownlinkBytes      = 1024
	MaxConfigKeys         = 32
	MaxConfigKeyLen       = 64
	MaxConfigValLen       = 256
	MaxTemperatures       = 8
	MaxWifiScans          = 16
	MaxVersionLen         = 32
	MaxReasonLen          = 64
	MaxProvisioningKeyLen = 64
	MaxActivitySecs       = 7 * 24 * 3600
	MinCentiCelsius       = -27315
	MaxCentiCelsius       = 20000
	MinRSSI, MaxRSSI      = -127, 0
)

// Validate checks an uplink against the limits; the message names the field.
func (u Uplink) Validate() error {
	const op = "device.Ingest"
	bad := func(format string, a ...any) error { return domain.Errorf(domain.CodeInvalid, op, format, a...) }
	switch {
	case !domain.ValidID(u.DeviceID):
		return bad("device_id: not a device id")
	case u.UplinkCount == 0:
		return bad("uplink_count: must be at least 1")
	case len(u.Config) > MaxConfigKeys:
		return bad("config: at most %d keys", MaxConfigKeys)
	case len(u.Temperatures) > MaxTemperatures:
		return bad("temperatures_centi_celsius: at most %d readings", MaxTemperatures)
	case len(u.WifiScans) > MaxWifiScans:
		return bad("wifi_scans: at most %d", MaxWifiScans)
	case len(u.Firmware) > MaxVersionLen || !utf8.ValidString(u.Firmware):
		return bad("firmware_version: at most %d bytes of UTF-8", MaxVersionLen)
	case len(u.Hardware) > MaxVersionLen || !utf8.ValidString(u.Hardware):
		return bad("hardware_version: at most %d bytes of UTF-8", MaxVersionLen)
	case len(u.ProvisioningKey) > MaxProvisioningKeyLen:
		return bad("provisioning_key: at most %d bytes", MaxProvisioningKeyLen)
	case len(u.Ack.Results) > MaxConfigKeys:
		return bad("config_ack.results: at most %d", MaxConfigKeys)
	}
	// Config entries that break the limits do not reject the uplink: they
	// are marked in the device's reported state (ReportOf) and not stored.
	for _, r := range u.Ack.Results {
		if !validKey(r.Key) || len(r.Reason) > MaxReasonLen || !utf8.ValidString(r.Reason) {
			return bad("config_ack.results: bad key or reason (key %.64q)", r.Key)
		}
	}
	a := u.Activity
	for _, s := range []uint32{a.Sleep, a.Modem, a.GNSS, a.WiFi, a.Other} {
		if s > MaxActivitySecs {
			return bad("activity: at most %d seconds per state", MaxActivitySecs)
		}
	}
	for _, t := range u.Temperatures {
		if t < MinCentiCelsius || t > MaxCentiCelsius {
			return bad("temperatures_centi_celsius: %d is out of range %d..%d", t, MinCentiCelsius, MaxCentiCelsius)
		}
	}
	for _, w := range u.WifiScans {
		if w.RSSIdBm < MinRSSI || w.RSSIdBm > MaxRSSI {
			return bad("wifi_scans: rssi_dbm %d is out of range %d..%d", w.RSSIdBm, MinRSSI, MaxRSSI)
		}
	}
	return nil
}

func validKey(k string) bool {
	if k == "" || len(k) > MaxConfigKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Downlink is the reply to an uplink: the device's downlink slot. The zero
// value means nothing is pending (an empty reply body).
type Downlink struct {
	UpdateConfig *UpdateConfigCommand
	// DeviceKey and PSK answer an enrolment: the device's own credentials.
	DeviceKey string
	PSK       string
}

type UpdateConfigCommand struct {
	Version uint64
	Keys    map[string]string
}
