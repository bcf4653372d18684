package coap_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/liveplane/liveplane/internal/drivers/coap"
)

// FuzzUplink sends arbitrary bodies to POST /uplink of a real server (real
// device service, real SQLite) and checks every one gets a clear answer:
// 2.04 for a good uplink, 4.00 / 4.01 / 4.13 for the rest, never silence,
// never a 5.xx, never a crash. The decoder helpers are exercised directly
// too.
func FuzzUplink(f *testing.F) {
	e := newEnv(f, coap.Options{ExchangeLifetime: time.Nanosecond})
	f.Add(e.uplink(1))
	f.Add(e.uplink(0))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x03, 'a', 'b', 'c'})
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})
	// An enrolment attempt: device_id, uplink_count 1, provisioning_key.
	f.Add(append(append([]byte{0x0a, 36}, "01a20850-e5c8-7d52-85a3-773192e86155"...),
		append([]byte{0x28, 0x01, 0x72, 8}, "lpp_nope"...)...))
	c := dial(f)
	var mid atomic.Int32
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 60000 { // more does not fit a UDP datagram
			return
		}
		coap.PeekDeviceID(body)
		if u, err := coap.DecodeUplink(body); err == nil {
			_ = u.Validate()
		}
		got := exchange(t, c, e.addr, post(mid.Add(1)&0xffff, "/uplink", body))
		switch got.Code {
		case codes.Changed, codes.BadRequest, codes.Unauthorized, codes.RequestEntityTooLarge:
		default:
			t.Fatalf("body %.64x answered %v (%s)", body, got.Code, got.Payload)
		}
	})
}
