package sqlstore_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

// The pickup contract, run on both engines against the store alone: the
// domain's promises about queues, leases and pushes rest on these.

var (
	ctx    = context.Background()
	t0     = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	limits = pickup.Limits{MaxMessages: 1000, MaxBytes: 1 << 20}
	sockA  = pickup.Holder{Instance: "inst-a", Socket: "inst-a/1"}
	sockB  = pickup.Holder{Instance: "inst-b", Socket: "inst-b/1"}
)

func msg(acct, conn string, payload string, dids ...string) pickup.NewMessage {
	if len(dids) == 0 {
		dids = []string{"did:example:r"}
	}
	return pickup.NewMessage{Message: pickup.Message{
		ID: domain.NewID(), Account: acct, ConnectionID: conn, RecipientDIDs: dids,
		Payload: []byte(payload), ReceivedAt: t0,
	}}
}

func params(now time.Time) pickup.AddParams {
	return pickup.AddParams{Now: now, Limits: limits, AckDeadline: now.Add(30 * time.Second), PushWindow: 10 * time.Second}
}

func add(t *testing.T, st pickup.Store, msgs ...pickup.NewMessage) []pickup.AddResult {
	t.Helper()
	res, err := st.AddMessages(ctx, params(t0), msgs)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	return res
}

func ids(msgs []pickup.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func take(t *testing.T, st pickup.Store, q pickup.TakeQuery) []pickup.Message {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 1000
	}
	if q.Deadline.IsZero() {
		q.Deadline = t0.Add(30 * time.Second)
	}
	got, err := st.Take(ctx, q)
	if err != nil {
		t.Fatalf("take %+v: %v", q, err)
	}
	return got
}

func count(t *testing.T, st pickup.Store, acct, conn, did string) int64 {
	t.Helper()
	n, err := st.AvailableCount(ctx, acct, conn, did)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPickupQueueFIFOAndDelete(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		var want []string
		for i := range 5 {
			m := msg("acct", "c1", fmt.Sprintf(`{"n":%d}`, i))
			want = append(want, m.ID)
			res := add(t, st, m)
			if res[0].Err != nil || res[0].Seq == 0 || res[0].Live != nil || res[0].Push {
				t.Fatalf("add result %+v", res[0])
			}
		}
		add(t, st, msg("other-acct", "c1", `{"x":1}`)) // same connection id, another account: another queue
		if n := count(t, st, "acct", "c1", ""); n != 5 {
			t.Fatalf("count = %d, want 5", n)
		}
		if n := count(t, st, "acct", "nope", ""); n != 0 {
			t.Fatalf("count of unknown queue = %d", n)
		}
		got := take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c1", Limit: 2, Delete: true})
		if !slices.Equal(ids(got), want[:2]) || string(got[0].Payload) != `{"n":0}` || !got[0].ReceivedAt.Equal(t0) {
			t.Fatalf("take 2 = %v, want %v", ids(got), want[:2])
		}
		if got[0].RecipientDIDs[0] != "did:example:r" || got[0].Seq >= got[1].Seq {
			t.Fatalf("message fields: %+v", got[0])
		}
		got = take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c1", Delete: true})
		if !slices.Equal(ids(got), want[2:]) {
			t.Fatalf("take rest = %v, want %v", ids(got), want[2:])
		}
		if n := count(t, st, "acct", "c1", ""); n != 0 {
			t.Fatalf("count after delete = %d", n)
		}
		if n := count(t, st, "other-acct", "c1", ""); n != 1 {
			t.Fatalf("other account's queue = %d, want 1", n)
		}
	})
}

func TestPickupTakeLimitsAndRecipient(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		a := msg("acct", "c", `"aaaaaaaaa"`, "did:a")        // 11 bytes
		b := msg("acct", "c", `"bb"`, "did:b", "did:shared") // 4 bytes
		c := msg("acct", "c", `"cccc"`, "did:a")             // 6 bytes
		d := msg("acct", "c", `"d"`, "did:shared")           // 3 bytes
		add(t, st, a, b, c, d)
		if n := count(t, st, "acct", "c", "did:a"); n != 2 {
			t.Fatalf("count did:a = %d", n)
		}
		if n := count(t, st, "acct", "c", "did:"); n != 0 {
			t.Fatalf("a DID prefix must not match: %d", n)
		}
		// limitBytes is exact and never skips ahead: 11 fits, 11+4 does not.
		got := take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c", LimitBytes: 14})
		if !slices.Equal(ids(got), []string{a.ID}) {
			t.Fatalf("limitBytes 14 = %v", ids(got))
		}
		// a is in flight now: not taken again, not counted.
		if n := count(t, st, "acct", "c", ""); n != 3 {
			t.Fatalf("count with one in flight = %d", n)
		}
		got = take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c", LimitBytes: 3})
		if len(got) != 0 {
			t.Fatalf("first pending message (4 bytes) over limitBytes 3 must give nothing, got %v", ids(got))
		}
		got = take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c", RecipientDID: "did:shared", Limit: 1})
		if !slices.Equal(ids(got), []string{b.ID}) {
			t.Fatalf("did:shared limit 1 = %v", ids(got))
		}
		got = take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c", RecipientDID: "did:a", Delete: true})
		if !slices.Equal(ids(got), []string{c.ID}) {
			t.Fatalf("did:a = %v (a is in flight, only c is pending)", ids(got))
		}
		if n := count(t, st, "acct", "c", ""); n != 1 {
			t.Fatalf("pending left = %d, want 1 (d)", n)
		}
	})
}

func TestPickupRemoveOnlyOwnOrPending(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		m1, m2, m3 := msg("acct", "c", `1`), msg("acct", "c", `2`), msg("acct", "c", `3`)
		add(t, st, m1, m2, m3)
		take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c", Limit: 1, By: sockA}) // m1 in flight to A
		take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c", Limit: 1, By: sockB}) // m2 in flight to B
		n, err := removeOne(st, "acct", "c", []string{m1.ID, m2.ID, m3.ID, "unknown"}, sockA)
		if err != nil || n != 2 {
			t.Fatalf("A removes m1 (its own), m2 (B's), m3 (pending): %d %v, want 2", n, err)
		}
		n, err = removeOne(st, "other", "c", []string{m2.ID}, sockB)
		if err != nil || n != 0 {
			t.Fatalf("another account removes m2: %d %v", n, err)
		}
		n, err = removeOne(st, "acct", "c", []string{m2.ID}, sockB)
		if err != nil || n != 1 {
			t.Fatalf("B removes m2: %d %v", n, err)
		}
		add(t, st, msg("acct", "c", `4`, "did:x"), msg("acct", "c", `5`, "did:y", "did:x"), msg("acct", "c", `6`, "did:y"))
		n, err = st.RemoveAll(ctx, "acct", "c", "did:x")
		if err != nil || n != 2 || count(t, st, "acct", "c", "") != 1 {
			t.Fatalf("remove all did:x: %d %v, left %d", n, err, count(t, st, "acct", "c", ""))
		}
	})
}

func TestPickupQuotas(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		p := params(t0)
		p.Limits = pickup.Limits{MaxMessages: 3, MaxBytes: 10}
		res, err := st.AddMessages(ctx, p, []pickup.NewMessage{
			msg("acct", "c", `"1234"`), msg("acct", "c", `"12345678"`), msg("acct", "c", `1`),
			msg("acct", "other", `"12345678"`), msg("acct", "c", `2`), msg("acct", "c", `3`),
		})
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, r := range res {
			codes = append(codes, string(domain.ErrorCode(r.Err)))
			if r.Err == nil {
				codes[len(codes)-1] = "ok"
			}
		}
		want := []string{"ok", "resource_exhausted", "ok", "ok", "ok", "resource_exhausted"}
		if !slices.Equal(codes, want) {
			t.Fatalf("outcomes %v, want %v", codes, want)
		}
		if n := count(t, st, "acct", "c", ""); n != 3 {
			t.Fatalf("stored %d, want 3: refused messages leave nothing", n)
		}
		got := take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "c", Delete: true})
		if len(got) != 3 || string(got[2].Payload) != "2" {
			t.Fatalf("queue after quota: %d messages", len(got))
		}
		res, _ = st.AddMessages(ctx, p, []pickup.NewMessage{msg("acct", "c", `"12345678"`)})
		if res[0].Err != nil {
			t.Fatalf("quota frees up after delete: %v", res[0].Err)
		}
	})
}

func TestPickupExpire(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		old := msg("acct", "c", `1`)
		old.ReceivedAt = t0.Add(-time.Hour)
		add(t, st, old, msg("acct", "c", `2`))
		n, err := st.Expire(ctx, t0.Add(-time.Minute), 1000)
		if err != nil || n != 1 || count(t, st, "acct", "c", "") != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
	})
}

func payloads(msgs []pickup.Message) string {
	var b bytes.Buffer
	for _, m := range msgs {
		b.Write(m.Payload)
	}
	return b.String()
}

// removeOne is RemoveMessages of a single removal.
func removeOne(st pickup.Store, acct, conn string, ids []string, by pickup.Holder) (int64, error) {
	n, err := st.RemoveMessages(ctx, []pickup.Removal{{Account: acct, ConnectionID: conn, IDs: ids, By: by}})
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

// Removals of several queues in one transaction, counts in request order.
func TestPickupRemoveBatch(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		a1, a2, b1 := msg("acct", "b-queue", `1`), msg("acct", "b-queue", `2`), msg("acct", "a-queue", `3`)
		add(t, st, a1, a2, b1)
		n, err := st.RemoveMessages(ctx, []pickup.Removal{
			{Account: "acct", ConnectionID: "b-queue", IDs: []string{a1.ID, a2.ID}, By: sockA},
			{Account: "acct", ConnectionID: "nope", IDs: []string{b1.ID}, By: sockA},
			{Account: "acct", ConnectionID: "a-queue", IDs: []string{b1.ID, a1.ID}, By: sockA},
		})
		if err != nil || !slices.Equal(n, []int64{2, 0, 1}) {
			t.Fatalf("counts %v %v, want [2 0 1]", n, err)
		}
		if count(t, st, "acct", "b-queue", "")+count(t, st, "acct", "a-queue", "") != 0 {
			t.Fatal("messages left")
		}
	})
}
