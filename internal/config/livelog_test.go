package config

import (
	"strings"
	"testing"
	"time"
)

func TestLiveLogSettings(t *testing.T) {
	s, _, err := loadServe(nil, nil)
	if err != nil || s.LiveLog.WindowLines != 1000 || s.LiveLog.WindowAge != 24*time.Hour ||
		s.LiveLog.MaxBytes != 256<<20 || s.LiveLog.PingInterval != 30*time.Second || len(s.LiveLog.RelayTokens) != 0 ||
		s.LiveLog.MaxFlushDelay != 20*time.Millisecond {
		t.Fatalf("defaults: %+v %v", s.LiveLog, err)
	}
	s, _, err = loadServe([]string{"--livelog-window-lines", "50", "--ws-max-flush-delay", "5ms", "--ws-origins", "https://console.example.com, *", "--console-relay-url", "https://relay.example.com"},
		[]string{"LIVEPLANE_RELAY_TOKENS=relay-secret-0123456789,relay-secret-abcdefghij", "LIVEPLANE_LIVELOG_WINDOW_AGE=1h"})
	if err != nil || s.LiveLog.WindowLines != 50 || s.LiveLog.WindowAge != time.Hour || len(s.LiveLog.WSOrigins) != 2 ||
		len(s.LiveLog.RelayTokens) != 2 || s.LiveLog.ConsoleRelayURL != "https://relay.example.com" ||
		s.LiveLog.MaxFlushDelay != 5*time.Millisecond {
		t.Fatalf("load: %+v %v", s.LiveLog, err)
	}
	if out := s.String(); strings.Contains(out, "relay-secret") || !strings.Contains(out, "relay-tokens") || !strings.Contains(out, "console-relay-url") {
		t.Fatalf("String shows a relay token or omits the setting:\n%s", out)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--livelog-window-lines", "0"}, "livelog-window-lines"},
		{[]string{"--livelog-window-age", "0s"}, "livelog-window-age"},
		{[]string{"--livelog-max-bytes", "1000"}, "livelog-max-bytes"},
		{[]string{"--livelog-storage", "disk"}, "livelog-storage"},
		{[]string{"--ws-origins", "console.example.com"}, "ws-origins"},
		{[]string{"--ws-ping-interval", "1ms"}, "ws-ping-interval"},
		{[]string{"--ws-max-flush-delay", "0s"}, "ws-max-flush-delay"},
		{[]string{"--ws-max-flush-delay", "2s"}, "ws-max-flush-delay"},
		{[]string{"--relay-tokens", "short"}, "relay-tokens"},
		{[]string{"--relay-tokens", "has a space in it, sure"}, "relay-tokens"},
		{[]string{"--console-relay-url", "http://127.0.0.1:8090"}, "console-relay-url"}, // without --relay-tokens
		{[]string{"--relay-tokens", "relay-secret-0123456789", "--console-relay-url", "127.0.0.1:8090"}, "console-relay-url"},
		{[]string{"--relay-tokens", "relay-secret-0123456789", "--console-relay-url", "https://relay.example/device-logs"}, "console-relay-url"},
	}
	for _, c := range cases {
		_, _, err := loadServe(c.args, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "has a space") {
			t.Errorf("%v: the error shows the secret: %v", c.args, err)
		}
	}
}
