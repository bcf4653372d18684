package eventcodec_test

import (
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/eventcodec"
)

func TestDeviceEventRoundTrip(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	d := device.Device{ID: domain.NewID(), AccountID: domain.NewID(), Name: "m", Disabled: true, Generation: 2, CreatedAt: now, UpdatedAt: now}
	ev := domain.Event{ID: domain.NewID(), Type: device.EventDisabled, AggregateID: d.ID, AggregateVersion: 2, Time: now, Data: d}
	b, err := eventcodec.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := eventcodec.Decode(b)
	if err != nil || got.Data.(device.Device) != d {
		t.Fatalf("decoded %+v %v, want %+v", got.Data, err, d)
	}
	ev.Data = "not a device"
	if _, err := eventcodec.Encode(ev); err == nil {
		t.Fatal("a device event with a wrong payload encoded")
	}
}
