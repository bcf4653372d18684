package device

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// The reconciliation property test drives the pure twin through random
// histories exactly as Service.Pending and Service.PatchConfig use it: an
// operator patching devices and defaults (with nulls, and with stale
// expected versions), devices that apply or reject commands at random, and
// a network that duplicates and reorders uplinks. A twin is loaded from the
// "store" for every uplink and saved only when Observe says it changed, as
// Pending does. After every step it checks the twin against an independent
// model:
//   - the delta equals the effective desired values that differ from the
//     reported ones, and the reply carries exactly that delta (or nothing);
//   - stale writes never apply (the twin is unchanged, aborted);
//   - device reports never change desired values (seeded values only at
//     enrolment; operator values only by the operator);
//   - every device converges (in sync) once its reports follow commands,
//     including devices that apply each version only once (they rely on
//     the drift count for a new version after a local change or a lost
//     ack).

var keys = []string{"a", "b", "c", "d", "e", "interval", "mode"}
var vals = []string{"0", "1", "2", "x"}

type simDevice struct {
	has        map[string]string // what the device really holds
	boot, n    uint32
	cmd        *UpdateConfigCommand // latest command received
	acked      uint64
	sent       []Report // everything it sent, for duplicates and reorders
	reject     map[string]bool
	modelRep   map[string]string // model: merged reports in uplink order
	modelKey   [2]uint32
	modelDes   map[string]string
	seenReport bool
	idempotent bool
	lastAck    ConfigAck
}

type sim struct {
	t          *testing.T
	rng        *rand.Rand
	now        time.Time
	def        Defaults
	modelDef   map[string]string
	twins      []Twin // the "store"
	devs       []*simDevice
	stuckAfter uint32
	steps      int
}

func TestReconciliationProperties(t *testing.T) {
	steps := 100_000
	if testing.Short() {
		steps = 20_000
	}
	if s := os.Getenv("LIVEPLANE_PROPERTY_STEPS"); s != "" {
		steps, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (LIVEPLANE_PROPERTY_SEED to replay)", seed)
	if s := os.Getenv("LIVEPLANE_PROPERTY_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, 7)), now: time.Unix(1_800_000_000, 0).UTC(),
		def: Defaults{AccountID: "acc", Values: Values{}}, modelDef: map[string]string{}, stuckAfter: 5}
	// Defaults first, then enrol devices from their first reports.
	s.patchDefaults(false)
	for i := 0; i < 4; i++ {
		s.enrol(i)
	}
	converged := 0
	for s.steps = 0; s.steps < steps; s.steps++ {
		s.now = s.now.Add(time.Second)
		i := s.rng.IntN(len(s.devs))
		switch r := s.rng.IntN(100); {
		case r < 15:
			s.patchDevice(i)
		case r < 20:
			s.patchDefaults(s.rng.IntN(3) == 0)
		case r < 80:
			s.uplink(i, false)
		default:
			s.replay(i)
		}
		s.check(i)
		if s.steps%500 == 499 {
			s.converge()
			converged++
		}
	}
	t.Logf("%d steps, %d convergence rounds, final versions %v", steps, converged, s.versions())
}

func (s *sim) versions() []uint64 {
	var out []uint64
	for _, t := range s.twins {
		out = append(out, t.EffectiveVersion(s.def))
	}
	return out
}

func (s *sim) randomConfig() map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		if s.rng.IntN(2) == 0 {
			m[k] = vals[s.rng.IntN(len(vals))]
		}
	}
	return m
}

func (s *sim) enrol(i int) {
	d := &simDevice{has: s.randomConfig(), boot: 1, reject: map[string]bool{}, idempotent: i%2 == 0}
	r := Report{Boot: 1, Uplink: 1, Config: maps.Clone(d.has)}
	tw, changes := Seed(fmt.Sprint("dev", i), "acc", r, s.def, s.now)
	// Seeding skips values equal to the defaults and nothing else.
	want := map[string]string{}
	for k, v := range d.has {
		if dv, ok := s.modelDef[k]; !ok || dv != v {
			want[k] = v
		}
	}
	if !reflect.DeepEqual(tw.Desired.Plain(), want) || len(changes) != len(want) {
		s.t.Fatalf("seeded %v (%d changes), want %v", tw.Desired.Plain(), len(changes), want)
	}
	d.modelRep, d.modelDes, d.modelKey, d.seenReport = maps.Clone(d.has), want, [2]uint32{1, 1}, true
	d.n = 1
	d.sent = append(d.sent, r)
	s.twins = append(s.twins, tw)
	s.devs = append(s.devs, d)
	// Its delta is only the defaults it does not hold.
	for k := range tw.Delta(s.def) {
		if _, reported := d.has[k]; reported {
			s.t.Fatalf("a freshly enrolled device has %s in its delta: %v", k, tw.Delta(s.def))
		}
	}
	s.check(i)
}

func (s *sim) randomPatch() (Patch, []byte) {
	p := Patch{}
	for n := 1 + s.rng.IntN(3); n > 0; n-- {
		k := keys[s.rng.IntN(len(keys))]
		if s.rng.IntN(4) == 0 {
			p[k] = nil
		} else {
			v := vals[s.rng.IntN(len(vals))]
			p[k] = &v
		}
	}
	// Round-trip through the wire form: the parser is part of the path.
	b := []byte("{")
	first := true
	for k, v := range p {
		if !first {
			b = append(b, ',')
		}
		first = false
		if v == nil {
			b = fmt.Appendf(b, "%q:null", k)
		} else {
			b = fmt.Appendf(b, "%q:%q", k, *v)
		}
	}
	b = append(b, '}')
	got, err := ParseMergePatch("test", b)
	if err != nil || !reflect.DeepEqual(got, p) {
		s.t.Fatalf("parse %s: %v %v", b, got, err)
	}
	return got, b
}

func mergeModel(m map[string]string, p Patch) {
	for k, v := range p {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = *v
		}
	}
}

// expected returns a version for a patch: usually current, sometimes stale
// (lower), sometimes none.
func (s *sim) expected(cur uint64) (*uint64, bool) {
	switch r := s.rng.IntN(10); {
	case r < 6:
		return &cur, false
	case r < 8 && cur > 0:
		v := uint64(s.rng.IntN(int(cur)))
		return &v, true
	case r < 9:
		v := cur + 1 + uint64(s.rng.IntN(3)) // from the future: stale too
		return &v, true
	}
	return nil, false
}

func (s *sim) patchDevice(i int) {
	p, _ := s.randomPatch()
	tw := clone(s.twins[i])
	before := clone(tw)
	exp, stale := s.expected(tw.Version)
	changes, err := tw.Patch("test", p, exp, s.def, "admin", s.now)
	if stale {
		if !domain.Is(err, domain.CodeAborted) || !reflect.DeepEqual(tw, before) {
			s.t.Fatalf("step %d: stale patch (expected %d, at %d) applied: %v", s.steps, *exp, before.Version, err)
		}
		return
	}
	if err != nil {
		s.t.Fatalf("step %d: patch: %v", s.steps, err)
	}
	mergeModel(s.devs[i].modelDes, p)
	if len(changes) > 0 && tw.Version != before.Version+1 || len(changes) == 0 && tw.Version != before.Version {
		s.t.Fatalf("step %d: version %d -> %d with %d changes", s.steps, before.Version, tw.Version, len(changes))
	}
	s.twins[i] = tw
}

func (s *sim) patchDefaults(stale bool) {
	p, _ := s.randomPatch()
	d := s.def
	d.Values = maps.Clone(d.Values)
	before := d.Version
	exp := &d.Version
	if stale {
		v := d.Version + 1
		exp = &v
	}
	_, err := d.Patch("test", p, exp, "admin", s.now)
	if stale {
		if !domain.Is(err, domain.CodeAborted) || d.Version != before || !reflect.DeepEqual(d.Values, s.def.Values) {
			s.t.Fatalf("stale defaults patch applied: %v", err)
		}
		return
	}
	if err != nil {
		s.t.Fatal(err)
	}
	mergeModel(s.modelDef, p)
	s.def = d
}

// deliver runs one uplink through the twin the way Service.Pending does.
func (s *sim) deliver(i int, r Report) *UpdateConfigCommand {
	stored := s.twins[i]
	tw := clone(stored)
	out := tw.Observe(r, s.def, s.stuckAfter, s.now)
	if out.Changed {
		s.twins[i] = tw
	} else if !reflect.DeepEqual(withoutPosition(tw), withoutPosition(stored)) {
		s.t.Fatalf("step %d: Observe changed the twin but said it did not", s.steps)
	}
	// The model: reports apply in uplink order only.
	d := s.devs[i]
	if key := [2]uint32{r.Boot, r.Uplink}; key[0] > d.modelKey[0] || key[0] == d.modelKey[0] && key[1] > d.modelKey[1] {
		d.modelKey = key
		for k, v := range r.Config {
			d.modelRep[k] = v
		}
		for k := range r.Invalid {
			delete(d.modelRep, k)
		}
	}
	if out.Command != nil {
		if out.Command.Version != tw.EffectiveVersion(s.def) {
			s.t.Fatalf("step %d: command v%d, effective v%d", s.steps, out.Command.Version, tw.EffectiveVersion(s.def))
		}
		if !reflect.DeepEqual(out.Command.Keys, s.modelDelta(i)) {
			s.t.Fatalf("step %d: command keys %v, model delta %v", s.steps, out.Command.Keys, s.modelDelta(i))
		}
	} else if len(s.modelDelta(i)) != 0 {
		s.t.Fatalf("step %d: no command, model delta %v", s.steps, s.modelDelta(i))
	}
	return out.Command
}

func withoutPosition(t Twin) Twin {
	t.Seen, t.LastBoot, t.LastUplink = false, 0, 0
	return t
}

// uplink: the device builds its next uplink: apply (or reject) the latest
// command, report (all or part of) its config, sometimes garbage.
func (s *sim) uplink(i int, follow bool) {
	d := s.devs[i]
	if s.rng.IntN(50) == 0 {
		d.boot, d.n = d.boot+1, 0
	}
	d.n++
	r := Report{Boot: d.boot, Uplink: d.n}
	// Idempotent devices apply a version once and never reject; the others
	// apply every command they get and reject keys at random.
	if c := d.cmd; c != nil && (c.Version > d.acked || !d.idempotent) {
		ack := ConfigAck{AppliedVersion: c.Version}
		for k, v := range c.Keys {
			if !follow && !d.idempotent && s.rng.IntN(5) == 0 {
				status := KeyRejected
				if s.rng.IntN(2) == 0 {
					status = KeyUnknown
				}
				ack.Results = append(ack.Results, KeyResult{Key: k, Status: status, Reason: "no"})
				continue
			}
			d.has[k] = v
			ack.Results = append(ack.Results, KeyResult{Key: k, Status: KeyApplied})
		}
		d.lastAck, d.acked = ack, c.Version
	}
	// The ack of the last applied version rides on every uplink (as the
	// protocol asks); the network sometimes loses one.
	if d.lastAck.AppliedVersion != 0 && (follow || s.rng.IntN(4) != 0) {
		r.Ack = d.lastAck
	}
	if !follow && s.rng.IntN(30) == 0 { // the device's own change (local UI)
		d.has[keys[s.rng.IntN(len(keys))]] = vals[s.rng.IntN(len(vals))]
	}
	raw := map[string]string{}
	for k, v := range d.has {
		if follow || s.rng.IntN(3) != 0 {
			raw[k] = v
		}
	}
	if !follow && s.rng.IntN(20) == 0 {
		raw["bad key!"] = "x"
		raw[keys[s.rng.IntN(len(keys))]] = string(make([]byte, MaxConfigValLen+1)) // garbage value
	}
	r = mergeReport(r, ReportOf(Uplink{Config: raw}))
	d.sent = append(d.sent, r)
	if len(d.sent) > 20 {
		d.sent = d.sent[1:]
	}
	if cmd := s.deliver(i, r); cmd != nil {
		d.cmd = cmd
	} else {
		d.cmd = nil
	}
}

func mergeReport(r, cfg Report) Report {
	r.Config, r.Invalid = cfg.Config, cfg.Invalid
	return r
}

// replay delivers an old uplink again (a duplicate after the reply window,
// another replica, a reordered datagram); the device may or may not see the
// reply.
func (s *sim) replay(i int) {
	d := s.devs[i]
	r := d.sent[s.rng.IntN(len(d.sent))]
	cmd := s.deliver(i, r)
	if cmd != nil && s.rng.IntN(2) == 0 && (d.cmd == nil || cmd.Version >= d.cmd.Version) {
		d.cmd = cmd
	}
}

func (s *sim) modelDelta(i int) map[string]string {
	eff := maps.Clone(s.modelDef)
	maps.Copy(eff, s.devs[i].modelDes)
	out := map[string]string{}
	for k, v := range eff {
		if rv, ok := s.devs[i].modelRep[k]; !ok || rv != v {
			out[k] = v
		}
	}
	return out
}

func (s *sim) check(i int) {
	tw := s.twins[i]
	if !reflect.DeepEqual(tw.Desired.Plain(), s.devs[i].modelDes) {
		s.t.Fatalf("step %d: desired %v, model (operator and seed only) %v", s.steps, tw.Desired.Plain(), s.devs[i].modelDes)
	}
	if !reflect.DeepEqual(tw.Reported.Plain(), s.devs[i].modelRep) {
		s.t.Fatalf("step %d: reported %v, model %v", s.steps, tw.Reported.Plain(), s.devs[i].modelRep)
	}
	if got, want := tw.Delta(s.def), s.modelDelta(i); !reflect.DeepEqual(got, want) {
		s.t.Fatalf("step %d: delta %v, want desired != reported %v", s.steps, got, want)
	}
	if st := tw.State(s.def, s.stuckAfter); (st == SyncInSync) != (len(s.modelDelta(i)) == 0) {
		s.t.Fatalf("step %d: state %s with delta %v", s.steps, st, s.modelDelta(i))
	}
}

// converge: the operator stops; every device follows every command. Each
// must be in sync within three uplinks (one to get the command, one to
// report it, one spare for a command that arrived with a reordered reply).
func (s *sim) converge() {
	for i := range s.devs {
		for n := 0; n < 3 && s.twins[i].State(s.def, s.stuckAfter) != SyncInSync; n++ {
			s.now = s.now.Add(time.Second)
			s.uplink(i, true)
			s.check(i)
		}
		if st := s.twins[i].State(s.def, s.stuckAfter); st != SyncInSync {
			s.t.Fatalf("step %d: device %d did not converge: %s, delta %v", s.steps, i, st, s.twins[i].Delta(s.def))
		}
	}
}

func clone(t Twin) Twin {
	t.Desired, t.Reported = maps.Clone(t.Desired), maps.Clone(t.Reported)
	t.Invalid, t.Rejected = maps.Clone(t.Invalid), maps.Clone(t.Rejected)
	return t
}

// Stuck, rejected and the live-log messages, step by step.
func TestSyncStates(t *testing.T) {
	now := time.Unix(1_800_000_000, 0).UTC()
	def := Defaults{AccountID: "acc", Version: 2, Values: Values{"interval": {Value: "60"}}}
	tw, _ := Seed("dev", "acc", Report{Boot: 1, Uplink: 1, Config: map[string]string{"interval": "60", "mode": "eco"}}, def, now)
	if tw.Version != 1 || !reflect.DeepEqual(tw.Desired.Plain(), map[string]string{"mode": "eco"}) {
		t.Fatalf("seed: v%d %v", tw.Version, tw.Desired.Plain())
	}
	v := "fast"
	if _, err := tw.Patch("t", Patch{"mode": &v}, nil, def, "admin", now); err != nil {
		t.Fatal(err)
	}
	n := uint32(1)
	up := func(r Report) Outcome {
		n++
		r.Boot, r.Uplink = 1, n
		return tw.Observe(r, def, 3, now)
	}
	out := up(Report{Config: map[string]string{"mode": "eco"}})
	if out.Command == nil || out.Command.Version != 4 || out.Command.Keys["mode"] != "fast" || out.After != SyncPending {
		t.Fatalf("first send: %+v", out)
	}
	for i := 0; i < 2; i++ {
		if out = up(Report{}); out.After != SyncPending {
			t.Fatalf("uplink %d without ack: %s", i, out.After)
		}
	}
	if out = up(Report{}); out.After != SyncStuck || out.Messages[0] != "Config v4 stuck: 3 uplinks without an ack" {
		t.Fatalf("stuck: %+v", out)
	}
	out = up(Report{Ack: ConfigAck{AppliedVersion: 4, Results: []KeyResult{{Key: "mode", Status: KeyRejected, Reason: "unsupported"}}}})
	if out.After != SyncRejected || out.Command == nil || out.Messages[0] != "Device rejected config v4: mode (unsupported)" {
		t.Fatalf("rejected: %+v", out)
	}
	if out = up(Report{Config: map[string]string{"mode": "fast"}, Ack: ConfigAck{AppliedVersion: 4}}); out.After != SyncInSync || out.Command != nil || out.Acked != 0 {
		t.Fatalf("applied: %+v", out)
	}
	// The device changes the key itself, still acking v4: a new version
	// (drift), so firmware that skips applied versions acts again.
	if out = up(Report{Config: map[string]string{"mode": "eco"}, Ack: ConfigAck{AppliedVersion: 4}}); out.Command == nil ||
		out.Command.Version != 5 || out.Command.Keys["mode"] != "fast" || tw.Drift != 1 {
		t.Fatalf("drift: %+v drift %d", out.Command, tw.Drift)
	}
	if out = up(Report{Config: map[string]string{"mode": "fast"}, Ack: ConfigAck{AppliedVersion: 5}}); out.After != SyncInSync {
		t.Fatalf("after drift: %+v", out)
	}
	// An ack of a version never sent is ignored.
	if out = up(Report{Ack: ConfigAck{AppliedVersion: 99}}); out.Changed {
		t.Fatalf("future ack changed the twin: %+v", tw)
	}
}
