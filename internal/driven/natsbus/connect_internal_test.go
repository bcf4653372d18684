package natsbus

import "testing"

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://tok@h:4222":                   "nats://redacted@h:4222",
		"nats://u:pw@a:1, nats://b:2":         "nats://redacted@a:1,nats://b:2",
		"nats://h:4222":                       "nats://h:4222",
		"tls://user:secret@h:4222,tls://k@h2": "tls://redacted@h:4222,tls://redacted@h2",
	} {
		if got := redactURLs(in); got != want {
			t.Errorf("redactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}
