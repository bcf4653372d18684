package natsbus_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

func TestLiveLogPublishesPerDeviceSubject(t *testing.T) {
	url, _ := natstest.Start(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(natsbus.LiveLogSubjectPrefix + "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ll, err := natsbus.NewLiveLog(nc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ll.Publish("dev-b", device.Line{DeviceID: "dev-b", Type: "uplink", Message: "other device"})
	ll.Publish("dev-a", device.Line{DeviceID: "dev-a", Timestamp: now, Type: "uplink", Message: "Received uplink #7",
		Data: map[string]any{"uplinkCount": 7}})
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(msg.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got["deviceId"] != "dev-a" || got["type"] != "uplink" || got["message"] != "Received uplink #7" ||
		got["timestamp"] != "2026-01-02T03:04:05Z" || got["data"].(map[string]any)["uplinkCount"] != 7.0 {
		t.Fatalf("line = %v", got)
	}
	if _, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatal("a line of another device reached this device's subject")
	}
}
