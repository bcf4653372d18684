package config

import (
	"strings"
	"testing"
)

func TestPickupSettings(t *testing.T) {
	s, _, err := loadServe([]string{"--pickup", "127.0.0.1:4100", "--pickup-max-queue", "50", "--push-webhook-allow", "https://hooks.example.com/, *"}, nil)
	if err != nil || s.Pickup.Addr != "127.0.0.1:4100" || s.Pickup.MaxQueue != 50 || len(s.Pickup.WebhookAllow) != 2 {
		t.Fatalf("load: %+v %v", s.Pickup, err)
	}
	p := Pickup{WebhookAllow: []string{"https://hooks.example.com/"}}
	if !p.WebhookAllowed("https://hooks.example.com/wake") || p.WebhookAllowed("https://evil.example.com/") ||
		p.WebhookAllowed("file:///etc/passwd") || (Pickup{}).WebhookAllowed("https://hooks.example.com/") {
		t.Fatal("WebhookAllowed")
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--pickup-auth", "open", "--pickup", "0.0.0.0:3100"}, "open mode needs a loopback"},
		{[]string{"--pickup-auth", "maybe"}, "pickup-auth"},
		{[]string{"--pickup-max-queue", "ten"}, "not a whole number"},
		{[]string{"--pickup-max-message-bytes", "0"}, "must be between"},
		{[]string{"--push-apns-key", "k.p8"}, "push-apns-team-id"},
		{[]string{"--push-webhook-allow", "ftp://x"}, "push-webhook-allow"},
		{[]string{"--pickup", "127.0.0.1:8080"}, "same TCP port"},
		{[]string{"--push-window", "0s"}, "push-window"},
	}
	for _, c := range cases {
		if _, _, err := loadServe(c.args, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
	if s, _, err := loadServe([]string{"--pickup", "off", "--pickup-auth", "open"}, nil); err != nil || s.Pickup.Addr != "off" {
		t.Fatalf("pickup off: %v", err)
	}
}
