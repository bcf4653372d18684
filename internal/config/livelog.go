package config

import (
	"errors"
	"fmt"
	"time"
)

// LiveLog configures serve's live-log window and its WebSocket stream
// endpoint (docs/live-logs.md).
type LiveLog struct {
	WindowLines  int64         // lines kept per device
	WindowAge    time.Duration // lines older than this leave the window
	MaxBytes     int64         // cap for every device's lines together
	Storage      string        // "file" or "memory": where the window's lines are kept
	WSOrigins    []string      // browser origins allowed on /ws; "*" = any
	PingInterval time.Duration // WebSocket ping period and pong deadline
	// MaxFlushDelay bounds what a line may wait on /ws while the hub
	// coalesces writes under load (livews, flush.go).
	MaxFlushDelay time.Duration
	RelayTokens   []string // service tokens that may open any device's stream
	// ConsoleRelayURL is the liveplane relay the console's Live Logs tab
	// follows devices through ("" = serve's own stream, /console/ws).
	ConsoleRelayURL string
}

func liveLogSettings(l *LiveLog) []setting {
	return []setting{
		{name: "livelog-window-lines", def: "1000", val: countValue{&l.WindowLines},
			help: "live-log lines kept per device for history and resume (`count`)"},
		{name: "livelog-window-age", def: "24h", val: durationValue{&l.WindowAge},
			help: "live-log lines older than this `duration` leave the window"},
		{name: "livelog-max-bytes", def: "268435456", val: countValue{&l.MaxBytes},
			help: "cap of the live-log window for all devices together (`bytes`), on disk or in memory (--livelog-storage); the oldest lines go first"},
		{name: "livelog-storage", def: "file", val: stringValue{&l.Storage},
			help: "where the live-log window is kept: file (JetStream's file store in the data dir; kept across restarts, off the Go heap) or memory (lost on a restart of the embedded NATS)"},
		{name: "ws-origins", val: listValue{&l.WSOrigins},
			help: "browser `origins` allowed on the /ws live-log stream (comma-separated scheme://host[:port], or *); requests without Origin are always allowed"},
		{name: "ws-ping-interval", def: "30s", val: durationValue{&l.PingInterval},
			help: "WebSocket ping period of the /ws stream (`duration`); a connection silent for two periods is closed"},
		{name: "ws-max-flush-delay", def: "20ms", val: durationValue{&l.MaxFlushDelay},
			help: "the most a live-log line may wait on /ws while writes are coalesced under load (`duration`); longer pauses write more lines per system call"},
		{name: "relay-tokens", secret: secretToken, val: listValue{&l.RelayTokens},
			help: "comma-separated service `tokens` of liveplane relays; each may open the /ws stream of any device"},
		{name: "console-relay-url", val: stringValue{&l.ConsoleRelayURL},
			help: "`URL` (http[s]://host[:port]) of the liveplane relay the console's Live Logs tab goes through; empty uses serve's own stream. Needs --relay-tokens"},
	}
}

func validateLiveLog(v *validator, l LiveLog) {
	if l.WindowLines < 1 || l.WindowLines > 1_000_000 {
		v.check("livelog-window-lines", errors.New("must be between 1 and 1000000"))
	}
	if l.WindowAge < time.Second {
		v.check("livelog-window-age", errors.New("must be at least 1s"))
	}
	if l.MaxBytes < 1<<20 {
		v.check("livelog-max-bytes", errors.New("must be at least 1048576 (1 MiB)"))
	}
	v.check("livelog-storage", checkOneOf(l.Storage, "file", "memory"))
	for _, o := range l.WSOrigins {
		if err := checkOrigin(o); err != nil {
			v.check("ws-origins", errors.New("entry "+quote(o)+": "+err.Error()))
		}
	}
	if l.PingInterval < 100*time.Millisecond || l.PingInterval > 10*time.Minute {
		v.check("ws-ping-interval", errors.New("must be between 100ms and 10m"))
	}
	if l.MaxFlushDelay < time.Millisecond || l.MaxFlushDelay > time.Second {
		v.check("ws-max-flush-delay", errors.New("must be between 1ms and 1s"))
	}
	if l.ConsoleRelayURL != "" {
		if err := checkOrigin(l.ConsoleRelayURL); err != nil || l.ConsoleRelayURL == "*" {
			v.check("console-relay-url", errors.New("want the relay's http[s]://host[:port], without path, query or credentials"))
		} else if len(l.RelayTokens) == 0 {
			v.check("console-relay-url", errors.New("needs --relay-tokens: the relay checks console tickets with its service token"))
		}
	}
	for i, t := range l.RelayTokens {
		if len(t) < 16 || len(t) > 128 {
			v.check("relay-tokens", fmt.Errorf("entry %d: a token is 16 to 128 characters", i+1))
		}
		for _, c := range t {
			if !tokenChar(c) {
				v.check("relay-tokens", fmt.Errorf("entry %d: use letters, digits, '-', '_' and '.' only", i+1))
				break
			}
		}
	}
}

// tokenChar: a relay token travels in an Authorization header or a
// Sec-WebSocket-Protocol value, so it is limited to characters both allow.
func tokenChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
