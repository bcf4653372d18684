package device

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/testinfra/gcscan"
)

func TestRepliesShareTheFirstAnswerAndExpireInOrder(t *testing.T) {
	r := newReplies(time.Minute, 3)
	t0 := time.Unix(1000, 0)
	k := func(n uint32) Key { return Key{"d", 1, n} }
	e, lead := r.begin(k(1), t0)
	if !lead {
		t.Fatal("first uplink does not lead")
	}
	f, lead := r.begin(k(1), t0)
	if lead || f != e {
		t.Fatal("a duplicate leads")
	}
	want := Downlink{UpdateConfig: &UpdateConfigCommand{Version: 7}}
	r.finish(k(1), e, want, nil)
	if got, err := r.wait(context.Background(), f); err != nil || got.UpdateConfig.Version != 7 {
		t.Fatalf("duplicate got %+v %v", got, err)
	}
	// A duplicate after the leader finished gets the kept answer.
	if g, lead := r.begin(k(1), t0.Add(time.Second)); lead {
		t.Fatal("a late duplicate leads")
	} else if got, err := r.wait(context.Background(), g); err != nil || got.UpdateConfig.Version != 7 {
		t.Fatalf("late duplicate got %+v %v", got, err)
	}
	// Bounded: a fourth key evicts the oldest.
	for n := uint32(2); n <= 4; n++ {
		e, _ := r.begin(k(n), t0)
		r.finish(k(n), e, Downlink{}, nil)
	}
	if _, lead := r.begin(k(1), t0); !lead {
		t.Fatal("evicted key still answered from the cache")
	}
	// Expiry by age.
	if _, lead := r.begin(k(4), t0.Add(2*time.Minute)); !lead {
		t.Fatal("expired key still answered from the cache")
	}
}

// The ring grows from a small start up to max while keeping insertion
// order, through growths and wrap-arounds: exactly the newest max keys stay.
func TestRepliesGrowToTheirBoundInOrder(t *testing.T) {
	const max = 300 // not a power of two: growth ends on the bound
	r := newReplies(time.Hour, max)
	if len(r.order) >= max {
		t.Fatalf("ring starts at %d slots, want fewer than max %d", len(r.order), max)
	}
	t0 := time.Unix(1000, 0)
	k := func(n int) Key { return Key{"d", 1, uint32(n)} }
	for n := range 1000 {
		e, lead := r.begin(k(n), t0)
		if !lead {
			t.Fatalf("key %d does not lead", n)
		}
		r.finish(k(n), e, Downlink{}, nil)
	}
	if len(r.order) != max || r.n != max || r.len() != max {
		t.Fatalf("ring %d, n %d, map %d; want all %d", len(r.order), r.n, r.len(), max)
	}
	for n := range 1000 {
		_, cached := r.done[r.key(k(n))]
		if want := n >= 1000-max; cached != want {
			t.Fatalf("key %d cached %v, want %v", n, cached, want)
		}
	}
}

func TestRepliesForgetFailures(t *testing.T) {
	r := newReplies(time.Minute, 8)
	k := Key{"d", 1, 1}
	e, _ := r.begin(k, time.Now())
	f, _ := r.begin(k, time.Now())
	boom := errors.New("db down")
	r.finish(k, e, Downlink{}, boom)
	if _, err := r.wait(context.Background(), f); !errors.Is(err, boom) {
		t.Fatalf("waiting duplicate got %v, want the leader's failure", err)
	}
	if _, lead := r.begin(k, time.Now()); !lead {
		t.Fatal("a failed uplink is not processed afresh when resent")
	}
}

func TestValidateNamesTheField(t *testing.T) {
	ok := Uplink{DeviceID: "01a20850-e5c8-7d52-85a3-773192e86155", UplinkCount: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Uplink)
	}{
		{"uplink_count", func(u *Uplink) { u.UplinkCount = 0 }},
		{"config", func(u *Uplink) {
			u.Config = make(map[string]string, MaxConfigKeys+1)
			for i := range MaxConfigKeys + 1 {
				u.Config[fmt.Sprint("k", i)] = ""
			}
		}},
		{"provisioning_key", func(u *Uplink) { u.ProvisioningKey = string(make([]byte, MaxProvisioningKeyLen+1)) }},
		{"temperatures_centi_celsius", func(u *Uplink) { u.Temperatures = []int32{-30000} }},
		{"wifi_scans", func(u *Uplink) { u.WifiScans = []WifiScan{{RSSIdBm: 5}} }},
		{"activity", func(u *Uplink) { u.Activity.Sleep = MaxActivitySecs + 1 }},
		{"firmware_version", func(u *Uplink) { u.Firmware = string(make([]byte, 33)) }},
	} {
		u := ok
		tc.mutate(&u)
		err := u.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// A bad config entry does not reject the uplink: it is marked, the rest kept.
func TestBadConfigEntryIsMarked(t *testing.T) {
	u := Uplink{DeviceID: "01a20850-e5c8-7d52-85a3-773192e86155", UplinkCount: 1,
		Config: map[string]string{"bad key": "x", "long": string(make([]byte, MaxConfigValLen+1)), "ok": "1", "bin": "\xff"}}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	r := ReportOf(u)
	if len(r.Config) != 1 || r.Config["ok"] != "1" {
		t.Fatalf("kept %v", r.Config)
	}
	if len(r.Invalid) != 3 || r.Invalid["long"] == "" || r.Invalid["bin"] == "" || r.Invalid[`"bad key"`] == "" {
		t.Fatalf("marked %v", r.Invalid)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{ReceivedAt: time.UnixMicro(1763900000123456).UTC(), BootCount: 3, UplinkCount: 9, Index: 2}
	got, err := decodeCursor(encodeCursor(c))
	if err != nil || got != c {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := decodeCursor("!!"); err == nil {
		t.Fatal("garbage token decoded")
	}
}

// The finished part of the window is memory the GC never scans (see
// replies): no pointer in its keys, its values or the ring.
func TestRepliesWindowHasNoPointers(t *testing.T) {
	for _, v := range []any{rKey{}, answer{}} {
		if p := gcscan.Pointer(reflect.TypeOf(v)); p != "" {
			t.Errorf("%T holds a pointer: %s", v, p)
		}
	}
}
