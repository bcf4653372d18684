package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

// clock is a settable clock (microsecond precision, as the store keeps).
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UTC().Truncate(time.Microsecond).UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func u64(v uint64) *uint64           { return &v }
func firstUplink(id, key string) device.Uplink {
	return device.Uplink{
		DeviceID: id, ProvisioningKey: key, BootCount: 1, UplinkCount: 1, RebootReason: device.RebootPowerOn,
		Config: map[string]string{"interval": "60", "mode": "eco", "bad key": "x"}, Firmware: "1.0.0", Hardware: "rev-a",
	}
}

// replica is another service on the same store: fresh caches, as a second
// serve process would have.
func (f *fixture) replica(c domain.Clock) *device.Service {
	return device.NewService(f.store.Devices(), c, device.Options{Writer: f.writer, LiveLog: f.live, StuckAfter: 3})
}

func TestEnrolment(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		f := newFixture(t, s, nil)
		ctx := context.Background()
		clk := newClock()
		svc := f.replica(clk)
		acc := f.account.Account.ID
		if _, err := svc.PatchConfigDefaults(admin, acc, []byte(`{"interval":"60"}`), nil); err != nil {
			t.Fatal(err)
		}
		k, secret, err := svc.CreateProvisioningKey(admin, acc, "factory line 1", 2, clk.Now().Add(time.Hour))
		if err != nil || k.Hash != "" || len(secret) < 40 {
			t.Fatalf("create key: %+v %q %v", k, secret, err)
		}
		id := domain.NewID()
		dl, err := svc.Ingest(ctx, firstUplink(id, secret))
		if err != nil || dl.DeviceKey == "" || dl.PSK == "" || dl.UpdateConfig != nil {
			t.Fatalf("enrol: %+v %v", dl, err)
		}
		d, err := svc.Get(admin, id)
		if err != nil || d.AccountID != acc || d.EnrolledWith != k.ID {
			t.Fatalf("enrolled device %+v %v", d, err)
		}
		// Seeded from the report, defaults skipped, the garbage key marked.
		v, err := svc.Config(admin, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Twin.Desired.Plain(); len(got) != 1 || got["mode"] != "eco" || v.Twin.Version != 1 || v.State != device.SyncInSync {
			t.Fatalf("seeded %+v state %s", got, v.State)
		}
		if len(v.Twin.Invalid) != 1 || len(v.Twin.Reported) != 2 {
			t.Fatalf("reported %v invalid %v", v.Twin.Reported, v.Twin.Invalid)
		}
		// A retransmission, here and on another replica (after this one's
		// reply window), gets the same credentials and creates nothing.
		for _, r := range []*device.Service{svc, f.replica(clk)} {
			again, err := r.Ingest(ctx, firstUplink(id, secret))
			if err != nil || again.DeviceKey != dl.DeviceKey || again.PSK != dl.PSK {
				t.Fatalf("retransmission: %+v %v", again, err)
			}
		}
		// The device key works from the next uplink on.
		next := device.Uplink{DeviceID: id, Credential: dl.DeviceKey, BootCount: 1, UplinkCount: 2}
		if _, err := svc.Ingest(ctx, next); err != nil {
			t.Fatalf("uplink with the enrolled key: %v", err)
		}
		keys, err := svc.ProvisioningKeys(admin, acc)
		if err != nil || len(keys) != 1 || keys[0].Uses != 1 {
			t.Fatalf("keys %+v %v", keys, err)
		}
		// After the window the provisioning key no longer answers for it.
		clk.add(device.EnrolWindow + time.Second)
		if _, err := f.replica(clk).Ingest(ctx, firstUplink(id, secret)); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("late re-enrolment: %v", err)
		}

		// Refusals: 4.01 and nothing created.
		other, err := service(s).Create(admin, account.CreateInput{Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		_, otherSecret, err := svc.CreateProvisioningKey(admin, other.Account.ID, "", 0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Ingest(ctx, firstUplink(id, otherSecret)); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("id enrolled elsewhere: %v", err)
		}
		second := domain.NewID()
		if _, err := svc.Ingest(ctx, firstUplink(second, secret)); err != nil {
			t.Fatalf("second use: %v", err)
		}
		third := domain.NewID()
		if _, err := svc.Ingest(ctx, firstUplink(third, secret)); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("beyond max uses: %v", err)
		}
		k2, s2, _ := svc.CreateProvisioningKey(admin, acc, "", 0, clk.Now().Add(time.Minute))
		if _, err := svc.RevokeProvisioningKey(admin, k2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Ingest(ctx, firstUplink(third, s2)); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("revoked: %v", err)
		}
		_, s3, _ := svc.CreateProvisioningKey(admin, acc, "", 0, clk.Now().Add(time.Minute))
		clk.add(2 * time.Minute)
		if _, err := f.replica(clk).Ingest(ctx, firstUplink(third, s3)); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("expired: %v", err)
		}
		if _, err := svc.Ingest(ctx, firstUplink(third, "lpp_garbage")); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("unknown key: %v", err)
		}
		if _, err := svc.Get(admin, third); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("a refused enrolment created the device: %v", err)
		}
		// Another account's API key sees neither the keys nor the device.
		ctxOther := account.WithPrincipal(context.Background(), account.Principal{AccountID: other.Account.ID, KeyID: "k"})
		if _, err := svc.ProvisioningKeys(ctxOther, acc); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("foreign list: %v", err)
		}
		if _, err := svc.RevokeProvisioningKey(ctxOther, k.ID); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("foreign revoke: %v", err)
		}
		// An account being deleted enrols nothing.
		if _, err := service(s).Delete(admin, other.Account.ID, 0); err != nil {
			t.Fatal(err)
		}
		gone := domain.NewID()
		if _, err := f.replica(clk).Ingest(ctx, firstUplink(gone, otherSecret)); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("deleting account: %v", err)
		}
		if _, err := svc.Get(admin, gone); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("deleting account got a device: %v", err)
		}
	})
}

// Many copies of one first uplink on two replicas at once: one device, one
// use of the key, every copy answered with the same key.
func TestConcurrentEnrolment(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		f := newFixture(t, s, nil)
		clk := newClock()
		replicas := []*device.Service{f.replica(clk), f.replica(clk)}
		_, secret, err := replicas[0].CreateProvisioningKey(admin, f.account.Account.ID, "", 0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 5; round++ {
			id := domain.NewID()
			var wg sync.WaitGroup
			keys := make([]string, 16)
			for i := range keys {
				wg.Add(1)
				go func() {
					defer wg.Done()
					u := firstUplink(id, secret)
					u.UplinkCount = uint32(1 + i%2) // some are distinct uplinks too
					dl, err := replicas[i%2].Ingest(context.Background(), u)
					if err != nil {
						t.Errorf("copy %d: %v", i, err)
					}
					keys[i] = dl.DeviceKey
				}()
			}
			wg.Wait()
			for _, k := range keys {
				if k == "" || k != keys[0] {
					t.Fatalf("round %d: keys differ: %q", round, keys)
				}
			}
			// Both replicas know the device now (neither keeps a cached miss).
			for r, rep := range replicas {
				next := device.Uplink{DeviceID: id, Credential: keys[0], BootCount: 1, UplinkCount: uint32(3 + r)}
				if _, err := rep.Ingest(context.Background(), next); err != nil {
					t.Fatalf("round %d: next uplink on replica %d: %v", round, r, err)
				}
			}
		}
		list, _, err := replicas[0].List(admin, f.account.Account.ID, 100, "")
		if err != nil || len(list) != 5 {
			t.Fatalf("%d devices, want 5: %v", len(list), err)
		}
		pk, _ := replicas[0].ProvisioningKeys(admin, f.account.Account.ID)
		if pk[0].Uses != 5 {
			t.Fatalf("uses %d, want 5", pk[0].Uses)
		}
		// A limited key under a rush of distinct devices: exactly its limit.
		lk, limited, err := replicas[0].CreateProvisioningKey(admin, f.account.Account.ID, "", 3, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var enrolled atomic.Int64
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := replicas[i%2].Ingest(context.Background(), firstUplink(domain.NewID(), limited))
				switch {
				case err == nil:
					enrolled.Add(1)
				case !domain.Is(err, domain.CodeUnauthenticated):
					t.Errorf("limited key: %v", err)
				}
			}()
		}
		wg.Wait()
		pk, _ = replicas[0].ProvisioningKeys(admin, f.account.Account.ID)
		if enrolled.Load() != 3 || pk[1].ID != lk.ID || pk[1].Uses != 3 {
			t.Fatalf("limited key enrolled %d (uses %d), want 3", enrolled.Load(), pk[1].Uses)
		}
		// A single-use key and racing copies of one device on both
		// replicas: every copy is answered (the one use is its own).
		_, single, _ := replicas[0].CreateProvisioningKey(admin, f.account.Account.ID, "", 1, time.Time{})
		id := domain.NewID()
		keys := make([]string, 8)
		for i := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dl, err := replicas[i%2].Ingest(context.Background(), firstUplink(id, single))
				if err != nil {
					t.Errorf("single-use copy %d: %v", i, err)
				}
				keys[i] = dl.DeviceKey
			}()
		}
		wg.Wait()
		for _, k := range keys {
			if k == "" || k != keys[0] {
				t.Fatalf("single-use key copies: %q", keys)
			}
		}
	})
}

func TestConfigReconciliation(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		f := newFixture(t, s, nil)
		ctx := context.Background()
		clk := newClock()
		svc := f.replica(clk)
		acc := f.account.Account.ID
		c, err := svc.Create(admin, acc, "meter")
		if err != nil {
			t.Fatal(err)
		}
		id := c.Device.ID
		n := uint32(0)
		up := func(cfg map[string]string, ack device.ConfigAck) device.Downlink {
			t.Helper()
			n++
			clk.add(time.Second)
			dl, err := svc.Ingest(ctx, device.Uplink{DeviceID: id, Credential: c.Key, BootCount: 1, UplinkCount: n, Config: cfg, Ack: ack})
			if err != nil {
				t.Fatal(err)
			}
			return dl
		}
		if dl := up(map[string]string{"interval": "60", "extra": "1"}, device.ConfigAck{}); dl.UpdateConfig != nil {
			t.Fatalf("nothing desired, got %+v", dl)
		}
		// Operator: patch with the expected version; a stale one changes nothing.
		v, err := svc.PatchConfig(admin, id, []byte(`{"interval":"30","mode":"fast"}`), u64(0))
		if err != nil || v.Twin.Version != 1 || v.State != device.SyncPending {
			t.Fatalf("patch: %+v %v", v, err)
		}
		if _, err := svc.PatchConfig(admin, id, []byte(`{"interval":"10"}`), u64(0)); !domain.Is(err, domain.CodeAborted) {
			t.Fatalf("stale patch: %v", err)
		}
		if _, err := svc.PatchConfig(admin, id, []byte(`{"interval":5}`), nil); !domain.Is(err, domain.CodeInvalid) {
			t.Fatalf("number value: %v", err)
		}
		if _, err := svc.PatchConfigDefaults(admin, acc, []byte(`{"tz":"UTC","interval":"90"}`), u64(0)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PatchConfigDefaults(admin, acc, []byte(`{"tz":null}`), u64(0)); !domain.Is(err, domain.CodeAborted) {
			t.Fatalf("stale defaults patch: %v", err)
		}
		// The very next uplink gets the command: device values override
		// defaults; effective version = 1 + 1.
		dl := up(map[string]string{"interval": "60"}, device.ConfigAck{})
		cmd := dl.UpdateConfig
		if cmd == nil || cmd.Version != 2 || len(cmd.Keys) != 3 || cmd.Keys["interval"] != "30" || cmd.Keys["tz"] != "UTC" || cmd.Keys["mode"] != "fast" {
			t.Fatalf("command %+v", cmd)
		}
		// Resent while pending; the device rejects one key.
		dl = up(map[string]string{"interval": "30", "tz": "UTC"}, device.ConfigAck{AppliedVersion: 2, Results: []device.KeyResult{
			{Key: "interval", Status: device.KeyApplied}, {Key: "tz", Status: device.KeyApplied},
			{Key: "mode", Status: device.KeyRejected, Reason: "unsupported"},
		}})
		if dl.UpdateConfig == nil || len(dl.UpdateConfig.Keys) != 1 || dl.UpdateConfig.Keys["mode"] != "fast" {
			t.Fatalf("resend %+v", dl.UpdateConfig)
		}
		v, _ = svc.Config(admin, id)
		if v.State != device.SyncRejected || v.Twin.Rejected["mode"] != "unsupported" || v.Twin.AckedVersion != 2 {
			t.Fatalf("rejected state %+v", v)
		}
		// Unknown reported keys are kept as reported, never a mismatch.
		if v.Twin.Reported["extra"].Value != "1" || v.Delta["extra"] != "" {
			t.Fatalf("extra key: %+v", v.Twin.Reported)
		}
		// The operator gives in: null deletes; now in sync.
		v, err = svc.PatchConfig(admin, id, []byte(`{"mode":null}`), u64(1))
		if err != nil || v.State != device.SyncInSync || v.EffectiveVersion != 3 {
			t.Fatalf("delete: %+v %v", v, err)
		}
		if dl := up(nil, device.ConfigAck{}); dl.UpdateConfig != nil {
			t.Fatalf("in sync, got %+v", dl.UpdateConfig)
		}
		// History: newest first, who, old -> new, acked.
		h, next, err := svc.ConfigHistory(admin, id, "", 2, "")
		if err != nil || len(h) != 2 || next == "" {
			t.Fatalf("history page: %d %q %v", len(h), next, err)
		}
		if h[0].Key != "mode" || h[0].New != nil || h[0].Old == nil || *h[0].Old != "fast" || h[0].Actor != "admin" {
			t.Fatalf("newest change %+v", h[0])
		}
		rest, next2, err := svc.ConfigHistory(admin, id, "", 2, next)
		if err != nil || len(rest) != 1 || next2 != "" {
			t.Fatalf("second page %+v %q %v", rest, next2, err)
		}
		for _, c := range append(h[1:], rest...) {
			if c.Version <= 2 && c.AckedAt.IsZero() {
				t.Fatalf("change %+v of an acked version has no ack time", c)
			}
		}
		dh, _, err := svc.ConfigHistory(admin, "", acc, 10, "")
		if err != nil || len(dh) != 2 || dh[0].DeviceID != "" {
			t.Fatalf("defaults history %+v %v", dh, err)
		}
		// Stuck: three uplinks without an ack (StuckAfter 3).
		if _, err := svc.PatchConfig(admin, id, []byte(`{"interval":"15"}`), nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			up(nil, device.ConfigAck{})
		}
		if v, _ = svc.Config(admin, id); v.State != device.SyncStuck || v.Twin.Unacked != 3 {
			t.Fatalf("stuck: %s unacked %d", v.State, v.Twin.Unacked)
		}
		var types []string
		for _, l := range f.live.all() {
			if l.Type == "config" {
				types = append(types, l.Message)
			}
		}
		joined := strings.Join(types, "\n")
		for _, want := range []string{"Sent config v2: interval, mode, tz", "Device rejected config v2: mode (unsupported)",
			"Config v4 stuck: 3 uplinks without an ack", "Sent config v4: interval"} {
			if !strings.Contains(joined, want) {
				t.Fatalf("config live-log lines lack %q:\n%s", want, joined)
			}
		}
		// Deleting the device removes its twin and history.
		if err := svc.Delete(admin, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Devices().Twin(ctx, id); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("twin after delete: %v", err)
		}
	})
}

// A revoked provisioning key stops answering at once on every replica, also
// for retransmissions of an enrolment it made before (which are answered
// with the device's credentials while its enrolment window lasts): another
// replica's key cache must not carry the key past its revocation.
func TestRevokedKeyStopsReanswersOnEveryReplica(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		f := newFixture(t, s, nil)
		ctx := context.Background()
		clk := newClock()
		a, b := f.replica(clk), f.replica(clk)
		_, secret, err := a.CreateProvisioningKey(admin, f.account.Account.ID, "line", 0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		id := domain.NewID()
		if _, err := a.Ingest(ctx, firstUplink(id, secret)); err != nil {
			t.Fatalf("enrol: %v", err)
		}
		// b answers a retransmission, and so holds the key in its cache.
		if dl, err := b.Ingest(ctx, firstUplink(id, secret)); err != nil || dl.DeviceKey == "" {
			t.Fatalf("retransmission on b: %+v %v", dl, err)
		}
		keys, err := a.ProvisioningKeys(admin, f.account.Account.ID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %+v %v", keys, err)
		}
		if _, err := a.RevokeProvisioningKey(admin, keys[0].ID); err != nil {
			t.Fatal(err)
		}
		for name, r := range map[string]*device.Service{"a": a, "b": b} {
			if dl, err := r.Ingest(ctx, firstUplink(id, secret)); !domain.Is(err, domain.CodeUnauthenticated) {
				t.Fatalf("retransmission on %s after the revocation: %+v %v; want unauthenticated", name, dl, err)
			}
		}
	})
}
