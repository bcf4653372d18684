package natsbus_test

import (
	"strings"
	"testing"

	"github.com/liveplane/liveplane/internal/driven/natsbus"
)

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"liveplane.events.account.>", "liveplane.events.account.a1.created", true},
		{"liveplane.events.account.>", "liveplane.events.account", false},
		{"liveplane.events.account.>", "liveplane.events.accounts.a1.created", false},
		{"liveplane.events.*.a1.created", "liveplane.events.account.a1.created", true},
		{"liveplane.events.*.a1.created", "liveplane.events.account.a2.created", false},
		{"liveplane.events.cluster.c1.registered", "liveplane.events.cluster.c1.registered", true},
		{"liveplane.events.cluster.c1", "liveplane.events.cluster.c1.registered", false},
		{"a.>.b", "a.x.b", false},
	} {
		if got := natsbus.SubjectMatches(tc.filter, tc.subject); got != tc.want {
			t.Errorf("%s ~ %s = %v", tc.filter, tc.subject, got)
		}
	}
}

func FuzzSubjectMatches(f *testing.F) {
	f.Add("liveplane.events.>", "liveplane.events.account.a.created")
	f.Add("a.*.c", "a.b.c")
	f.Fuzz(func(t *testing.T, filter, subject string) {
		// A subject (no wildcards) matches itself, and whatever matches is
		// decided without a panic.
		if subject != "" && !strings.ContainsAny(subject, "*>") && !natsbus.SubjectMatches(subject, subject) {
			t.Fatalf("%q does not match itself", subject)
		}
		_ = natsbus.SubjectMatches(filter, subject)
	})
}
