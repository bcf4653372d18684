package device

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// uplinkLine is the live-log line of an uplink. Its data mirrors the uplink
// in JSON-friendly units (temperatures in °C, BSSIDs as aa:bb:cc:dd:ee:ff);
// it is rendered by AppendJSON straight from the uplink, without the map of
// maps encoding/json would need (that was a fifth of the allocations of an
// uplink).
func uplinkLine(u Uplink, now time.Time) Line {
	return Line{DeviceID: u.DeviceID, Timestamp: now, Type: "uplink", Message: "Received uplink #" +
		strconv.FormatUint(uint64(u.UplinkCount), 10), uplink: &u}
}

// MarshalJSON is AppendJSON, so encoding/json gives the same bytes.
func (l Line) MarshalJSON() ([]byte, error) { return l.AppendJSON(nil) }

// AppendJSON appends the line's JSON, byte for byte what encoding/json made
// of the struct and its Data map (keys sorted, HTML-safe escaping), which is
// the contract of docs/live-logs.md: {"deviceId","timestamp","type",
// "message","data"}, data omitted when empty.
func (l Line) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"deviceId":`...)
	b = AppendJSONString(b, l.DeviceID)
	b = append(b, `,"timestamp":`...)
	var err error
	if b, err = appendJSONTime(b, l.Timestamp); err != nil {
		return nil, err
	}
	b = append(b, `,"type":`...)
	b = AppendJSONString(b, l.Type)
	b = append(b, `,"message":`...)
	b = AppendJSONString(b, l.Message)
	switch {
	case l.uplink != nil:
		b = append(b, `,"data":`...)
		if b, err = appendUplinkData(b, l.uplink); err != nil {
			return nil, err
		}
	case len(l.Data) > 0:
		d, err := json.Marshal(l.Data)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"data":`...), d...)
	}
	return append(b, '}'), nil
}

// appendUplinkData writes the data object of an uplink line; its keys are in
// the order encoding/json sorts map keys.
func appendUplinkData(b []byte, u *Uplink) ([]byte, error) {
	a := u.Activity
	b = append(b, `{"activity":{"gnss":`...)
	b = strconv.AppendUint(b, uint64(a.GNSS), 10)
	b = append(b, `,"modem":`...)
	b = strconv.AppendUint(b, uint64(a.Modem), 10)
	b = append(b, `,"other":`...)
	b = strconv.AppendUint(b, uint64(a.Other), 10)
	b = append(b, `,"sleep":`...)
	b = strconv.AppendUint(b, uint64(a.Sleep), 10)
	b = append(b, `,"wifi":`...)
	b = strconv.AppendUint(b, uint64(a.WiFi), 10)
	b = append(b, '}')
	if u.Ack.AppliedVersion != 0 {
		b = append(b, `,"appliedVersion":`...)
		b = strconv.AppendUint(b, u.Ack.AppliedVersion, 10)
	}
	b = append(b, `,"bootCount":`...)
	b = strconv.AppendUint(b, uint64(u.BootCount), 10)
	if len(u.Config) > 0 {
		b = append(b, `,"config":`...)
		b = AppendJSONStringMap(b, u.Config)
	}
	if u.DeviceTimeMs != 0 {
		b = append(b, `,"deviceTime":`...)
		var err error
		if b, err = appendJSONTime(b, time.UnixMilli(u.DeviceTimeMs).UTC()); err != nil {
			return nil, err
		}
	}
	if u.Firmware != "" {
		b = append(b, `,"firmware":`...)
		b = AppendJSONString(b, u.Firmware)
	}
	if u.Hardware != "" {
		b = append(b, `,"hardware":`...)
		b = AppendJSONString(b, u.Hardware)
	}
	if u.RebootReason != "" {
		b = append(b, `,"rebootReason":`...)
		b = AppendJSONString(b, string(u.RebootReason))
	}
	b = append(b, `,"temperatures":[`...)
	for i, t := range u.Temperatures {
		if i > 0 {
			b = append(b, ',')
		}
		// Within the limits |t/100| is 0 or >= 0.01, where encoding/json
		// also uses the shortest 'f' form.
		b = strconv.AppendFloat(b, float64(t)/100, 'f', -1, 64)
	}
	b = append(b, `],"uplinkCount":`...)
	b = strconv.AppendUint(b, uint64(u.UplinkCount), 10)
	b = append(b, `,"wifiScans":[`...)
	for i, w := range u.WifiScans {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"bssid":"`...)
		b = appendBSSID(b, w.BSSID)
		b = append(b, `","rssi":`...)
		b = strconv.AppendInt(b, int64(w.RSSIdBm), 10)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// AppendJSONStringMap writes m as encoding/json does (sorted keys); the
// store writes reported configurations with it too. Up to MaxConfigKeys
// keys are sorted on the stack.
func AppendJSONStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var arr [MaxConfigKeys]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, k)
		b = append(b, ':')
		b = AppendJSONString(b, m[k])
	}
	return append(b, '}')
}

var errJSONYear = errors.New("time: year outside of range [0,9999]")

// appendJSONTime is time.Time's MarshalJSON (RFC 3339 with nanoseconds).
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, errJSONYear
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

const hexDigits = "0123456789abcdef"

// AppendJSONString quotes s as encoding/json does by default: HTML-safe
// (<, >, & escaped), invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendBSSID(b []byte, m [6]byte) []byte {
	for i, c := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// FormatBSSID writes a MAC address the usual way.
func FormatBSSID(b [6]byte) string {
	var buf [17]byte
	return string(appendBSSID(buf[:0], b))
}
