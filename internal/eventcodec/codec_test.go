package eventcodec

import (
	"reflect"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

func sample() []domain.Event {
	now := time.Date(2026, 11, 23, 10, 0, 0, 123000, time.UTC)
	a := account.Account{ID: domain.NewID(), Name: "acme", DisplayName: "Acme", State: account.StateProvisioning,
		Generation: 1, CreatedAt: now, UpdatedAt: now}
	k := account.APIKey{ID: domain.NewID(), AccountID: a.ID, Description: "ci", CreatedAt: now, RevokedAt: now.Add(time.Hour)}
	var out []domain.Event
	for _, typ := range []string{account.EventCreated, account.EventUpdated, account.EventDeleted} {
		out = append(out, domain.Event{ID: domain.NewID(), Type: typ, AggregateID: a.ID, AggregateVersion: 1, Time: now, Data: a})
	}
	for _, typ := range []string{account.EventAPIKeyCreated, account.EventAPIKeyRevoked} {
		out = append(out, domain.Event{ID: domain.NewID(), Type: typ, AggregateID: k.ID, AggregateVersion: 2, Time: now, Data: k})
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, ev := range sample() {
		b, err := Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", ev.Type, got, ev)
		}
	}
}

func TestEncodeRejectsMistakes(t *testing.T) {
	if _, err := Encode(domain.Event{ID: "x", Type: "nope.never"}); err == nil {
		t.Error("unknown type encoded")
	}
	if _, err := Encode(domain.Event{ID: "x", Type: account.EventCreated, Data: "not an account"}); err == nil {
		t.Error("wrong payload type encoded")
	}
}

func TestDecodeUnknownTypeKeepsEnvelope(t *testing.T) {
	ev := sample()[0]
	b, _ := Encode(ev)
	// Rewrite the type in the envelope: field 2, same length.
	raw := string(b)
	b2 := []byte(raw)
	for i := 0; i+len(ev.Type) <= len(b2); i++ {
		if string(b2[i:i+len(ev.Type)]) == ev.Type {
			copy(b2[i:], "zzzzzzz.created"[:len(ev.Type)])
			break
		}
	}
	got, err := Decode(b2)
	if err != nil || got.Data != nil || got.ID != ev.ID {
		t.Fatalf("unknown type: %+v %v", got, err)
	}
}

// FuzzDecode: arbitrary bytes never panic, and whatever decodes re-encodes.
func FuzzDecode(f *testing.F) {
	for _, ev := range sample() {
		b, _ := Encode(ev)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Decode(b)
		if err != nil || ev.Data == nil {
			return
		}
		if _, err := Encode(ev); err != nil {
			t.Fatalf("decoded event does not re-encode: %v", err)
		}
	})
}
