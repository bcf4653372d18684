package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
	"google.golang.org/protobuf/proto"
	"k8s.io/client-go/kubernetes"

	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
	"github.com/liveplane/liveplane/internal/livelogclient"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// rig is the scale-out shape on one machine: one PostgreSQL database, a
// three-node NATS JetStream cluster routed on loopback, and several serve
// replicas, all started by the test (scripts/rig runs these tests).
type rig struct {
	db       string
	nats     *natstest.Cluster
	replicas []*server
}

func startRig(t *testing.T, replicas int) *rig {
	t.Helper()
	return startRigOn(t, pgtest.New(t), replicas)
}

func startRigOn(t *testing.T, db string, replicas int) *rig {
	t.Helper()
	r := &rig{db: db, nats: natstest.StartCluster(t, 3)}
	for range replicas {
		r.replicas = append(r.replicas, r.startReplica(t))
	}
	// The admin token is created once, by the replica that migrated first;
	// the others share it through the database.
	token := ""
	for _, s := range r.replicas {
		token = max(token, s.token)
	}
	if token == "" {
		t.Fatal("no replica created the admin token")
	}
	for _, s := range r.replicas {
		s.token = token
	}
	return r
}

func (r *rig) startReplica(t *testing.T) *server {
	t.Helper()
	return startServe(t, "", nil, "--database", r.db, "--nats", r.nats.URLs(), "--pickup", "127.0.0.1:0")
}

// kill9 kills a replica the hard way, mid-whatever-it-does.
func kill9(t *testing.T, s *server) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	s.waitExit(t, 10*time.Second)
}

// uplinkSender is a CoAP device fleet that fails over: an uplink whose
// replica does not answer within the timeout is sent to the next replica,
// unchanged (same boot and uplink counter), as a device behind a UDP load
// balancer would see it after a backend died.
type uplinkSender struct {
	devices []*lpv1.CreateDeviceResponse
	addrs   []string
	boot    uint32
	conns   sync.Map // addr -> *udp client conn
	sent    atomic.Int64
	retried atomic.Int64
}

type udpConn = udpclient.Conn

func (u *uplinkSender) body(d, n int) []byte {
	dev := u.devices[d]
	b, _ := proto.Marshal(&lpv1.Uplink{
		DeviceId: dev.GetDevice().GetId(), Credential: dev.GetKey(), BootCount: u.boot, UplinkCount: uint32(n),
		RebootReason:             lpv1.RebootReason_REBOOT_REASON_POWER_ON,
		Config:                   map[string]string{"INTERVAL": "3600"},
		Activity:                 &lpv1.Activity{SleepSeconds: 3540, ModemSeconds: 42},
		TemperaturesCentiCelsius: []int32{2150},
		FirmwareVersion:          "1.4.2", HardwareVersion: "rev-c",
	})
	return b
}

// send posts uplink n of device d to replica first, failing over to the
// others; it returns the replica that acknowledged it, or an error when
// none did within the deadline.
func (u *uplinkSender) send(ctx context.Context, d, n, first int) (int, error) {
	body := u.body(d, n)
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		i := (first + attempt) % len(u.addrs)
		if attempt > 0 {
			u.retried.Add(1)
		}
		u.sent.Add(1)
		cc, err := u.conn(u.addrs[i])
		if err != nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		resp, err := cc.Post(pctx, "/uplink", message.AppOctets, bytes.NewReader(body))
		cancel()
		if err == nil && resp.Code() == codes.Changed {
			return i, nil
		}
		if err == nil {
			return i, fmt.Errorf("replica %d answered %v", i, resp.Code())
		}
		u.drop(u.addrs[i])
	}
	return -1, fmt.Errorf("uplink %d of device %d: no replica acknowledged it within 30 s", n, d)
}

func (u *uplinkSender) conn(addr string) (*udpConn, error) {
	if c, ok := u.conns.Load(addr); ok {
		return c.(*udpConn), nil
	}
	cc, err := udp.Dial(addr)
	if err != nil {
		return nil, err
	}
	c, loaded := u.conns.LoadOrStore(addr, cc)
	if loaded {
		_ = cc.Close()
	}
	return c.(*udpConn), nil
}

func (u *uplinkSender) drop(addr string) {
	if c, ok := u.conns.LoadAndDelete(addr); ok {
		_ = c.(*udpConn).Close()
	}
}

func (u *uplinkSender) close() {
	u.conns.Range(func(k, _ any) bool { u.drop(k.(string)); return true })
}

// stored counts device d's activity rows of this boot through replica s.
func storedUplinks(t *testing.T, s *server, dev *lpv1.CreateDeviceResponse, boot uint32) map[uint32]int {
	t.Helper()
	out := map[uint32]int{}
	tok := ""
	for {
		res, err := s.devices().ListActivity(context.Background(), connect.NewRequest(&lpv1.ListActivityRequest{
			DeviceId: dev.GetDevice().GetId(), PageSize: 1000, PageToken: tok}))
		if err != nil {
			t.Fatalf("ListActivity: %v", err)
		}
		for _, r := range res.Msg.GetRecords() {
			if r.GetBootCount() == boot {
				out[r.GetUplinkCount()]++
			}
		}
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			return out
		}
	}
}

// Uplinks spread over two replicas, the same uplink arriving at both (a
// retransmission routed to the other backend), then one replica killed
// with -9 mid-load while devices fail over: every acknowledged uplink is
// stored exactly once.
func TestRigUplinksAcrossReplicasSurviveAKill(t *testing.T) {
	r := startRig(t, 2)
	a, b := r.replicas[0], r.replicas[1]
	const devices, perDevice = 20, 60
	u := &uplinkSender{boot: uint32(time.Now().Unix())}
	for range devices {
		u.devices = append(u.devices, a.newDevice(t))
	}
	for _, s := range r.replicas {
		addr, _ := s.coapAddrs(t)
		u.addrs = append(u.addrs, addr)
	}
	defer u.close()
	ctx := context.Background()

	// Phase 1: every uplink to both replicas.
	for d := range devices {
		for n := 1; n <= 5; n++ {
			for first := range 2 {
				if _, err := u.send(ctx, d, n, first); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// Phase 2: devices alternate replicas; replica A dies halfway.
	var acked atomic.Int64
	var wg sync.WaitGroup
	var killOnce sync.Once
	errs := make(chan error, devices)
	for d := range devices {
		wg.Go(func() {
			for n := 6; n <= perDevice; n++ {
				if d == 0 && n == perDevice/2 {
					killOnce.Do(func() { kill9(t, a) })
				}
				if _, err := u.send(ctx, d, n, n%2); err != nil {
					errs <- err
					return
				}
				acked.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	stored, dups := 0, 0
	for d := range devices {
		rows := storedUplinks(t, b, u.devices[d], u.boot)
		for n := 1; n <= perDevice; n++ {
			switch c := rows[uint32(n)]; {
			case c == 0:
				t.Errorf("device %d uplink %d acknowledged but not stored", d, n)
			case c > 1:
				dups += c - 1
			}
		}
		stored += len(rows)
	}
	t.Logf("uplinks: %d distinct, %d datagrams sent (%d failovers), %d acknowledged in phase 2, %d stored, %d duplicate rows; replica A killed -9 mid-load",
		devices*perDevice, u.sent.Load(), u.retried.Load(), acked.Load(), stored, dups)
	if dups > 0 {
		t.Errorf("%d duplicate rows across replicas", dups)
	}
	if stored != devices*perDevice {
		t.Errorf("stored %d distinct uplinks, want %d", stored, devices*perDevice)
	}
}

// Accounts created on alternating replicas are readable at once on the
// other (read-your-writes through the shared database); a NATS node killed
// mid-run costs nothing: every account.created event is in the stream
// exactly once (the outbox's Nats-Msg-Id dedupes re-publishes from any
// replica).
func TestRigAccountsAndEventsSurviveANATSNode(t *testing.T) {
	r := startRig(t, 2)
	const total = 120
	ids := make([]string, 0, total)
	for i := range total {
		if i == total/2 {
			r.nats.Kill(1)
		}
		on, other := r.replicas[i%2], r.replicas[(i+1)%2]
		res, err := on.accounts(bearer(on.token)).CreateAccount(context.Background(), connect.NewRequest(&lpv1.CreateAccountRequest{
			Name: fmt.Sprintf("rig-%03d", i)}))
		if err != nil {
			t.Fatalf("create account %d on replica %d: %v", i, i%2, err)
		}
		id := res.Msg.GetAccount().GetId()
		if _, err := other.accounts(bearer(other.token)).GetAccount(context.Background(), connect.NewRequest(&lpv1.GetAccountRequest{Id: id})); err != nil {
			t.Fatalf("account %d created on one replica, read on the other: %v", i, err)
		}
		ids = append(ids, id)
	}

	nc, err := nats.Connect(r.nats.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := map[string]int{}
	var events int
	waitFor(t, 45*time.Second, "every account.created event in the stream", func() bool {
		clear(seen)
		events = 0
		cons, err := js.OrderedConsumer(ctx, natsbus.EventsStream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			return false
		}
		for {
			batch, err := cons.FetchNoWait(500)
			if err != nil {
				return false
			}
			got := 0
			for m := range batch.Messages() {
				got++
				events++
				if strings.HasPrefix(m.Subject(), natsbus.EventsSubjectPrefix+"account.") && strings.HasSuffix(m.Subject(), ".created") {
					for _, id := range ids {
						if bytes.Contains(m.Data(), []byte(id)) {
							seen[id]++
						}
					}
				}
			}
			if got == 0 {
				break
			}
		}
		return len(seen) == total
	})
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	s, _ := js.Stream(ctx, natsbus.EventsStream)
	info, _ := s.Info(ctx)
	t.Logf("accounts: %d created over 2 replicas, %d read back on the other replica, %d account.created events in the stream (%d duplicates), %d events in all, stream replicas %d, one of 3 NATS nodes down since account %d",
		total, len(ids), len(seen), dups, events, info.Config.Replicas, total/2)
	if dups != 0 {
		t.Errorf("%d account.created events stored twice", dups)
	}

	// Both replicas run the projection consumer (one durable consumer,
	// shared): the read model they built equals a rebuild from the stream,
	// so no event was lost or applied twice between them.
	var out string
	waitFor(t, 30*time.Second, "the live read model equal to a rebuild", func() bool {
		o, _, code := cli(t, nil, "projections", "rebuild", "--database", r.db, "--nats", r.nats.URLs(), "--data-dir", t.TempDir())
		out = o
		return code == 0 && strings.Contains(o, "equal to the live read model")
	})
	t.Log(strings.TrimSpace(out))
}

// PostgreSQL restarted under uplink load on two replicas: both spool what
// they acknowledge while it is down, and once it is back every acknowledged
// uplink is stored exactly once.
func TestRigPostgresRestartLosesNothing(t *testing.T) {
	pg := startDedicatedPostgres(t)
	r := startRigOn(t, pg.url, 2)
	const devices, perDevice = 10, 40
	u := &uplinkSender{boot: uint32(time.Now().Unix())}
	for range devices {
		u.devices = append(u.devices, r.replicas[0].newDevice(t))
	}
	for _, s := range r.replicas {
		addr, _ := s.coapAddrs(t)
		u.addrs = append(u.addrs, addr)
	}
	defer u.close()
	ctx := context.Background()
	var acked atomic.Int64
	for n := 1; n <= perDevice; n++ {
		switch n {
		case perDevice / 4:
			pg.run(t, "stop")
		case perDevice / 2:
			pg.run(t, "start")
		}
		for d := range devices {
			if _, err := u.send(ctx, d, n, (d+n)%2); err != nil {
				t.Fatal(err)
			}
			acked.Add(1)
		}
	}
	stored, dups := 0, 0
	waitFor(t, 90*time.Second, "every acknowledged uplink stored after the restart", func() bool {
		stored, dups = 0, 0
		for d := range devices {
			for _, c := range storedUplinks(t, r.replicas[1], u.devices[d], u.boot) {
				stored++
				dups += c - 1
			}
		}
		return stored == devices*perDevice
	})
	spooled := 0
	for _, s := range r.replicas {
		if strings.Contains(s.log(), "spooling uplinks") {
			spooled++
		}
	}
	t.Logf("uplinks: %d sent over 2 replicas, %d acknowledged, %d stored, %d duplicate rows; PostgreSQL stopped for uplinks %d..%d; %d replicas spooled",
		u.sent.Load(), acked.Load(), stored, dups, perDevice/4, perDevice/2-1, spooled)
	if dups != 0 {
		t.Errorf("%d duplicate rows", dups)
	}
	if spooled == 0 {
		t.Errorf("no replica spooled: the restart did not reach the uplink path (the test proves nothing)")
	}
}

// A mediator's session held on replica B, messages added on A; B is killed
// with -9 mid-stream and the recipient re-opens its session on A: every
// acknowledged message is delivered, and the only repeats are messages that
// were delivered to B but not yet removed when it died.
func TestRigPickupSessionMovesAfterAKill(t *testing.T) {
	r := startRig(t, 2)
	a, b := r.replicas[0], r.replicas[1]
	key := a.accountKey(t, "rig-mediators")
	adder := mustDialMPR(t, a.pickupAddr(t), key)
	holder := mustDialMPR(t, b.pickupAddr(t), key)
	holder.must("addLiveSession", map[string]string{"connectionId": "c1", "sessionId": "on-b"}, nil)

	const total = 400
	added := map[string]bool{}
	delivered := map[string]int{}
	removed := map[string]bool{}
	drain := func(c *mpr, wait time.Duration) {
		for {
			select {
			case n := <-c.notes:
				var ids []string
				for _, m := range n.Params.Messages {
					delivered[m.ID]++
					ids = append(ids, m.ID)
				}
				if c.call("removeMessages", map[string]any{"connectionId": "c1", "messageIds": ids}, nil) == nil {
					for _, id := range ids {
						removed[id] = true
					}
				}
			case <-time.After(wait):
				return
			}
		}
	}
	removedOnB := map[string]bool{}
	for i := range total {
		if i == total/2 {
			drain(holder, 50*time.Millisecond)
			kill9(t, b)
			maps.Copy(removedOnB, removed)
		}
		added[adder.add("c1", nil)] = true
		if i < total/2 && i%20 == 19 {
			drain(holder, 10*time.Millisecond)
		}
	}
	// The recipient comes back through A: the session drains the queue.
	moved := mustDialMPR(t, a.pickupAddr(t), key)
	moved.must("addLiveSession", map[string]string{"connectionId": "c1", "sessionId": "on-a"}, nil)
	waitFor(t, 60*time.Second, "every added message delivered", func() bool {
		drain(moved, 200*time.Millisecond)
		for id := range added {
			if delivered[id] == 0 {
				return false
			}
		}
		return true
	})
	repeats := 0
	for _, n := range delivered {
		repeats += n - 1
	}
	var left int64
	moved.must("getAvailableMessageCount", map[string]string{"connectionId": "c1"}, &left)
	t.Logf("pickup: %d added on A, %d delivered (B until killed -9, then A), %d repeats (delivered to B, not removed before the kill), %d left queued",
		len(added), len(delivered), repeats, left)
	if len(delivered) != len(added) {
		t.Errorf("%d distinct messages delivered, want %d", len(delivered), len(added))
	}
	for id, n := range delivered {
		if n > 1 && removedOnB[id] {
			t.Errorf("message %s was removed on B before the kill and delivered again", id)
			break
		}
	}
	if left != 0 {
		t.Errorf("%d messages left queued after the drain", left)
	}
}

// Live logs on the rig: uplinks arrive at replica A, a subscriber follows
// the device on replica B; halfway the subscriber moves to A (resuming from
// its last seq) and a NATS node is killed. Every acknowledged uplink's line
// arrives exactly once, in order, with no gap.
func TestRigLiveLogsAcrossReplicasAndANATSNode(t *testing.T) {
	r := startRig(t, 2)
	a, b := r.replicas[0], r.replicas[1]
	key, dev := streamAccount(t, a, "rig-live")
	u := &uplinkSender{boot: uint32(time.Now().Unix()), devices: []*lpv1.CreateDeviceResponse{dev}}
	addrA, _ := a.coapAddrs(t)
	u.addrs = []string{addrA}
	defer u.close()

	type got struct {
		lines  []uint32 // uplink counters, in arrival order
		gaps   int
		dups   int64
		lastAt livelogclient.Position
	}
	follow := func(ctx context.Context, s *server, from *livelogclient.Position, out *got, mu *sync.Mutex) *livelogclient.Client {
		c, err := livelogclient.New(livelogclient.Options{URL: s.url, DeviceID: dev.GetDevice().GetId(), Token: key, From: from,
			Backoff: livelogclient.Backoff{Base: 20 * time.Millisecond, Max: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		go c.Run(ctx, func(e livelogclient.Event) error {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case livelogclient.KindLine:
				var d struct {
					UplinkCount uint32 `json:"uplinkCount"`
				}
				_ = json.Unmarshal(e.Line.Data, &d)
				out.lines = append(out.lines, d.UplinkCount)
				out.lastAt = livelogclient.Position{Epoch: e.Line.Epoch, Seq: e.Line.Seq}
			case livelogclient.KindGap:
				out.gaps++
			}
			return nil
		})
		return c
	}
	var mu sync.Mutex
	res := &got{}
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	onB := follow(ctxB, b, nil, res, &mu)
	time.Sleep(300 * time.Millisecond) // subscribed before the first uplink
	const total = 200
	ctx := context.Background()
	var (
		onA   *livelogclient.Client
		moved livelogclient.Position
	)
	for n := 1; n <= total; n++ {
		if n == total/2 {
			// Move the subscriber to A from its last position, then lose a NATS node.
			waitFor(t, 10*time.Second, "subscriber on B caught up", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(res.lines) == n-1
			})
			stopB()
			mu.Lock()
			pos := res.lastAt
			moved = pos
			res.dups += onB.Duplicates()
			mu.Unlock()
			ctxA, stopA := context.WithCancel(context.Background())
			defer stopA()
			onA = follow(ctxA, a, &pos, res, &mu)
			r.nats.Kill(2)
		}
		if _, err := u.send(ctx, 0, n, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, 30*time.Second, "every line on the subscriber", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(res.lines) >= total
	})
	mu.Lock()
	defer mu.Unlock()
	res.dups += onA.Duplicates()
	inOrder := true
	for i, n := range res.lines {
		if n != uint32(i+1) {
			inOrder = false
		}
	}
	t.Logf("live logs: %d uplinks on A, %d lines received (B, then A resuming from seq %d), %d duplicates dropped by the client, %d gaps, in order: %v; a NATS node killed at the move",
		total, len(res.lines), moved.Seq, res.dups, res.gaps, inOrder)
	if len(res.lines) != total || !inOrder || res.gaps != 0 {
		t.Fatalf("lines %v, gaps %d", res.lines, res.gaps)
	}
}

// postUplink sends one uplink body to addr and decodes the downlink.
func postUplink(ctx context.Context, addr string, body []byte) (*lpv1.Downlink, error) {
	cc, err := udp.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cc.Post(pctx, "/uplink", message.AppOctets, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if resp.Code() != codes.Changed {
		return nil, fmt.Errorf("answered %v", resp.Code())
	}
	var d lpv1.Downlink
	if resp.Body() != nil {
		b, err := io.ReadAll(resp.Body())
		if err != nil {
			return nil, err
		}
		if err := proto.Unmarshal(b, &d); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// Enrolment and reconciliation on two replicas: each unknown device sends
// its first uplink three times to each replica at once, and exactly one
// device exists afterwards, with one key that every reply agrees on; an
// operator's change made on B reaches the device in the reply to its next
// uplink on A.
func TestRigEnrolmentAndConfigAcrossReplicas(t *testing.T) {
	r := startRig(t, 2)
	a, b := r.replicas[0], r.replicas[1]
	ctx := context.Background()
	acc, err := a.accounts(bearer(a.token)).CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{Name: "rig-fleet"}))
	if err != nil {
		t.Fatal(err)
	}
	accID := acc.Msg.GetAccount().GetId()
	keysA := liveplanev1connect.NewProvisioningKeyServiceClient(http.DefaultClient, a.url, bearer(a.token))
	cfgB := liveplanev1connect.NewConfigServiceClient(http.DefaultClient, b.url, bearer(b.token))
	pk, err := keysA.CreateProvisioningKey(ctx, connect.NewRequest(&lpv1.CreateProvisioningKeyRequest{AccountId: accID, Description: "rig"}))
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]string, 2)
	for i, s := range r.replicas {
		addrs[i], _ = s.coapAddrs(t)
	}
	const devices, copies = 20, 3
	ids := make([]string, devices)
	keys := make([]string, devices)
	var mu sync.Mutex
	var wg sync.WaitGroup
	disagree := 0
	for d := range devices {
		ids[d] = uuid.NewString()
		body, _ := proto.Marshal(&lpv1.Uplink{DeviceId: ids[d], ProvisioningKey: pk.Msg.GetSecret(), BootCount: 1, UplinkCount: 1,
			Config: map[string]string{"INTERVAL": "60"}, FirmwareVersion: "1.4.2", HardwareVersion: "rev-c"})
		for c := range 2 * copies {
			wg.Go(func() {
				dl, err := postUplink(ctx, addrs[c%2], body)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("device %d first uplink copy %d: %v", d, c, err)
				case dl.GetDeviceKey() == "":
					t.Errorf("device %d copy %d: no device key in the enrolment reply", d, c)
				case keys[d] == "":
					keys[d] = dl.GetDeviceKey()
				case keys[d] != dl.GetDeviceKey():
					disagree++
				}
			})
		}
	}
	wg.Wait()
	list, err := b.devices().ListDevices(ctx, connect.NewRequest(&lpv1.ListDevicesRequest{AccountId: accID, PageSize: 500}))
	if err != nil {
		t.Fatal(err)
	}
	if disagree != 0 || len(list.Msg.GetDevices()) != devices {
		t.Fatalf("%d devices in the account, want %d; %d replies disagreed on the key", len(list.Msg.GetDevices()), devices, disagree)
	}

	// Operator change on B, device's next uplink on A.
	delivered := 0
	for d := range devices {
		if _, err := cfgB.PatchConfig(ctx, connect.NewRequest(&lpv1.PatchConfigRequest{DeviceId: ids[d], MergePatch: `{"INTERVAL":"30"}`})); err != nil {
			t.Fatalf("patch on B: %v", err)
		}
		body, _ := proto.Marshal(&lpv1.Uplink{DeviceId: ids[d], Credential: keys[d], BootCount: 1, UplinkCount: 2,
			Config: map[string]string{"INTERVAL": "60"}})
		dl, err := postUplink(ctx, addrs[0], body)
		if err != nil {
			time.Sleep(2 * time.Second)
			_, err2 := postUplink(ctx, addrs[0], body)
			_, err3 := postUplink(ctx, addrs[1], body)
			t.Fatalf("device %d second uplink on A: %v (2 s later on A: %v, on B: %v)", d, err, err2, err3)
		}
		if cmd := dl.GetUpdateConfig(); cmd == nil || cmd.GetKeys()["INTERVAL"] != "30" {
			t.Fatalf("device %d: the reply on A carries %v, want INTERVAL=30 patched on B", d, dl)
		}
		delivered++
	}
	t.Logf("enrolment: %d unknown devices × %d first-uplink copies on 2 replicas at once: %d devices, %d key disagreements; %d config changes made on B delivered in the next reply on A",
		devices, 2*copies, len(list.Msg.GetDevices()), disagree, delivered)
}

// Provisioning on the rig: a daemon for a real kube-apiserver on the NATS
// cluster, accounts created on alternating replicas; replica A is killed
// -9 halfway. Every account gets its namespace and reads READY on B (the
// surviving replica carries the shared projection consumer on).
func TestRigProvisioningAcrossReplicas(t *testing.T) {
	kubetest.Binaries(t)
	cluster := kubetest.APIServer(t, kubetest.Etcd(t), "rig1")
	kube := kubernetes.NewForConfigOrDie(cluster.RestConfig())
	r := startRig(t, 2)
	a, b := r.replicas[0], r.replicas[1]
	startDaemon(t, cluster.Name(), cluster.Kubeconfig(), r.nats.URLs(), "")
	waitFor(t, 30*time.Second, "the cluster registered", func() bool {
		res, err := liveplanev1connect.NewClusterServiceClient(http.DefaultClient, b.url, bearer(b.token)).ListClusters(
			context.Background(), connect.NewRequest(&lpv1.ListClustersRequest{}))
		return err == nil && len(res.Msg.GetClusters()) == 1
	})
	const total = 20
	var ids, names []string
	for i := range total {
		on := r.replicas[i%2]
		if i >= total/2 {
			on = b
		}
		if i == total/2 {
			kill9(t, a)
		}
		res, err := on.accounts(bearer(on.token)).CreateAccount(context.Background(), connect.NewRequest(&lpv1.CreateAccountRequest{
			Name: fmt.Sprintf("rig-prov-%02d", i)}))
		if err != nil {
			t.Fatalf("create account %d: %v", i, err)
		}
		ids = append(ids, res.Msg.GetAccount().GetId())
		names = append(names, res.Msg.GetAccount().GetName())
	}
	readyN, nsN := 0, 0
	took := waitFor(t, 60*time.Second, "every account READY on B with its namespace", func() bool {
		readyN, nsN = 0, 0
		for i, id := range ids {
			if getAccount(t, b, id).GetState() == lpv1.AccountState_ACCOUNT_STATE_READY {
				readyN++
			}
			if uid, _ := nsUID(kube, provisioning.NamespaceFor(names[i])); uid != "" {
				nsN++
			}
		}
		return readyN == total && nsN == total
	})
	t.Logf("provisioning: %d accounts created over 2 replicas (A killed -9 after %d), %d namespaces, %d READY on B within %v",
		total, total/2, nsN, readyN, took)
}
