package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Pickup configures serve's message pickup repository gateway and its push
// notifications.
type Pickup struct {
	Addr            string        // --pickup: TCP address of the gateway WebSocket; "off" disables it
	Auth            string        // token|open
	MaxMessageBytes int64         // largest accepted payload
	MaxQueue        int64         // messages per connection
	MaxQueueBytes   int64         // bytes per connection
	TTL             time.Duration // delete messages older than this; 0 keeps them
	AckTimeout      time.Duration // in flight without a remove this long: pending again
	TakeoverGrace   time.Duration // a superseded session's in-flight messages move after this
	RateLimit       int64         // calls per second per socket; 0 = only back pressure

	PushWindow     time.Duration
	FCMCredentials string   // service-account JSON file
	FCMEndpoint    string   // base URL of the FCM HTTP v1 API
	APNsKey        string   // .p8 token-signing key file
	APNsKeyID      string   // its key id
	APNsTeamID     string   // the developer team id
	APNsTopic      string   // the app's bundle id
	APNsEndpoint   string   // base URL of APNs
	WebhookAllow   []string // URL prefixes webhook tokens may point at
}

func pickupSettings(p *Pickup) []setting {
	return []setting{
		{name: "pickup", def: "127.0.0.1:3100", val: stringValue{&p.Addr},
			help: "TCP `address` of the message pickup repository gateway (WebSocket JSON-RPC on /); off disables it"},
		{name: "pickup-auth", def: "token", val: stringValue{&p.Auth},
			help: "gateway `mode`: token (every socket presents an account API key) or open (no token; loopback addresses only)"},
		{name: "pickup-max-message-bytes", def: "1048576", val: countValue{&p.MaxMessageBytes},
			help: "largest encrypted message accepted (`bytes`); bigger ones get an error and are not stored"},
		{name: "pickup-max-queue", def: "100000", val: countValue{&p.MaxQueue},
			help: "most messages queued per connection (`count`); addMessage beyond it gets an error"},
		{name: "pickup-max-queue-bytes", def: "1073741824", val: countValue{&p.MaxQueueBytes},
			help: "most bytes queued per connection"},
		{name: "pickup-ttl", def: "720h", val: durationValue{&p.TTL},
			help: "delete queued messages older than this (`duration`); 0 keeps them until picked up"},
		{name: "pickup-ack-timeout", def: "30s", val: durationValue{&p.AckTimeout},
			help: "a delivered or taken message not removed within this `duration` is available again"},
		{name: "pickup-takeover-grace", def: "1s", val: durationValue{&p.TakeoverGrace},
			help: "when a live session is taken over or ends, its unacknowledged messages move after this `duration`"},
		{name: "pickup-rate-limit", def: "0", val: countValue{&p.RateLimit},
			help: "calls per second per gateway socket (`count`); 0 limits only by calls in progress"},
		{name: "push-window", def: "10s", val: durationValue{&p.PushWindow},
			help: "at most one push notification per device token per `duration`, across all instances"},
		{name: "push-fcm-credentials", val: stringValue{&p.FCMCredentials},
			help: "Firebase service-account JSON `file` for FCM HTTP v1; empty disables FCM"},
		{name: "push-fcm-endpoint", def: "https://fcm.googleapis.com", val: stringValue{&p.FCMEndpoint},
			help: "base `URL` of the FCM HTTP v1 API"},
		{name: "push-apns-key", val: stringValue{&p.APNsKey},
			help: "APNs token-signing key (.p8) `file`; empty disables APNs"},
		{name: "push-apns-key-id", val: stringValue{&p.APNsKeyID}, help: "APNs key `id`"},
		{name: "push-apns-team-id", val: stringValue{&p.APNsTeamID}, help: "Apple developer team `id`"},
		{name: "push-apns-topic", val: stringValue{&p.APNsTopic}, help: "APNs topic: the app's bundle `id`"},
		{name: "push-apns-endpoint", def: "https://api.push.apple.com", val: stringValue{&p.APNsEndpoint},
			help: "base `URL` of APNs (https://api.sandbox.push.apple.com for development builds)"},
		{name: "push-webhook-allow", val: listValue{&p.WebhookAllow},
			help: "comma-separated URL `prefixes` that webhook tokens may point at (* for any); empty disables webhooks"},
	}
}

func validatePickup(v *validator, p Pickup) {
	if p.Addr != "off" {
		v.check("pickup", checkHostPort(p.Addr))
	}
	v.check("pickup-auth", checkOneOf(p.Auth, "token", "open"))
	if p.Auth == "open" && p.Addr != "off" && !isLoopback(p.Addr) {
		v.check("pickup-auth", fmt.Errorf("open mode needs a loopback %s: anyone who can reach it could read every queue",
			v.describe("pickup")))
	}
	v.check("pickup-max-message-bytes", checkRange(p.MaxMessageBytes, 1, 64<<20))
	v.check("pickup-max-queue", checkRange(p.MaxQueue, 1, 1<<40))
	v.check("pickup-max-queue-bytes", checkRange(p.MaxQueueBytes, p.MaxMessageBytes, 1<<50))
	v.check("pickup-rate-limit", checkRange(p.RateLimit, 0, 1<<30))
	for name, d := range map[string]time.Duration{"pickup-ack-timeout": p.AckTimeout, "pickup-takeover-grace": p.TakeoverGrace,
		"push-window": p.PushWindow} {
		if d <= 0 {
			v.check(name, errors.New("must be more than 0"))
		}
	}
	if p.TTL < 0 {
		v.check("pickup-ttl", errors.New("must be 0 (keep) or more"))
	}
	v.check("push-fcm-endpoint", checkHTTPURL(p.FCMEndpoint))
	v.check("push-apns-endpoint", checkHTTPURL(p.APNsEndpoint))
	if p.APNsKey != "" {
		for name, val := range map[string]string{"push-apns-key-id": p.APNsKeyID, "push-apns-team-id": p.APNsTeamID,
			"push-apns-topic": p.APNsTopic} {
			if val == "" {
				v.check(name, fmt.Errorf("required with %s", v.describe("push-apns-key")))
			}
		}
	}
	for _, prefix := range p.WebhookAllow {
		if prefix == "*" {
			continue
		}
		if err := checkHTTPURL(prefix); err != nil {
			v.check("push-webhook-allow", fmt.Errorf("%q: %w", prefix, err))
		}
	}
}

func checkRange(n, lo, hi int64) error {
	if n < lo || n > hi {
		return fmt.Errorf("must be between %d and %d", lo, hi)
	}
	return nil
}

// WebhookAllowed reports whether a webhook token may be called.
func (p Pickup) WebhookAllowed(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return false
	}
	for _, prefix := range p.WebhookAllow {
		if prefix == "*" || strings.HasPrefix(u, prefix) {
			return true
		}
	}
	return false
}

// countValue is a non-negative integer setting.
type countValue struct{ p *int64 }

func (v countValue) set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return errors.New("not a whole number")
	}
	*v.p = n
	return nil
}
func (v countValue) text() string { return strconv.FormatInt(*v.p, 10) }
