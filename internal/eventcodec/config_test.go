package eventcodec

import (
	"reflect"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
)

func TestConfigEventsRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 123000, time.UTC)
	c := device.ConfigChanged{DeviceID: domain.NewID(), AccountID: domain.NewID(), Version: 3,
		Values: map[string]string{"INTERVAL": "60"}, State: device.SyncPending, EffectiveVersion: 5}
	d := device.ConfigChanged{AccountID: c.AccountID, Version: 2, Values: map[string]string{"TZ": "UTC"}}
	k := device.ProvisioningKey{ID: domain.NewID(), AccountID: c.AccountID, Description: "line 1", MaxUses: 10,
		ExpiresAt: now.Add(time.Hour), CreatedAt: now, RevokedAt: now}
	for _, ev := range []domain.Event{
		{ID: domain.NewID(), Type: device.EventConfigChanged, AggregateID: c.DeviceID, AggregateVersion: 5, Time: now, Data: c},
		{ID: domain.NewID(), Type: device.EventDefaultsChanged, AggregateID: d.AccountID, AggregateVersion: 2, Time: now, Data: d},
		{ID: domain.NewID(), Type: device.EventProvKeyCreated, AggregateID: k.ID, AggregateVersion: 1, Time: now, Data: k},
		{ID: domain.NewID(), Type: device.EventProvKeyRevoked, AggregateID: k.ID, AggregateVersion: 2, Time: now, Data: k},
	} {
		b, err := Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil || !reflect.DeepEqual(got, ev) {
			t.Errorf("%s: round trip\n got %+v %v\nwant %+v", ev.Type, got, err, ev)
		}
		if want := "liveplane.events." + map[string]string{
			device.EventConfigChanged: "config", device.EventDefaultsChanged: "config",
			device.EventProvKeyCreated: "provkey", device.EventProvKeyRevoked: "provkey",
		}[ev.Type] + "."; ev.Subject()[:len(want)] != want {
			t.Errorf("%s: subject %s", ev.Type, ev.Subject())
		}
	}
}
