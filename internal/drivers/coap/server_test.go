package coap_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
	"google.golang.org/protobuf/proto"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/coap"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

var admin = account.WithPrincipal(context.Background(), account.Principal{Admin: true})

type lines struct {
	mu  sync.Mutex
	got []device.Line
}

func (l *lines) Publish(_ string, line device.Line) {
	l.mu.Lock()
	l.got = append(l.got, line)
	l.mu.Unlock()
}

func (l *lines) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, x := range l.got {
		out = append(out, x.Type)
	}
	return out
}

// env is a real device service on SQLite behind a CoAP server on loopback.
type env struct {
	devices *device.Service
	server  *coap.Server
	addr    *net.UDPAddr
	live    *lines
	dev     device.Created
}

func newEnv(t testing.TB, o coap.Options) *env {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := s.NewUplinkWriter(sqlstore.UplinkWriterOptions{})
	e := &env{live: &lines{}}
	e.devices = device.NewService(s.Devices(), domain.SystemClock{}, device.Options{Writer: w, LiveLog: e.live})
	acc, err := account.NewService(s.Accounts(), domain.SystemClock{}).Create(admin, account.CreateInput{Name: "fleet"})
	if err != nil {
		t.Fatal(err)
	}
	if e.dev, err = e.devices.Create(admin, acc.Account.ID, "meter"); err != nil {
		t.Fatal(err)
	}
	o.Ingest = e.devices
	e.server = coap.New(o)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e.addr = conn.LocalAddr().(*net.UDPAddr)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.Run(ctx) }()
	go func() { defer wg.Done(); e.server.ServeUDP(ctx, conn) }()
	t.Cleanup(func() { cancel(); wg.Wait(); conn.Close(); s.Close() })
	return e
}

func (e *env) uplink(n uint32) []byte {
	b, _ := proto.Marshal(&lpv1.Uplink{
		DeviceId: e.dev.Device.ID, Credential: e.dev.Key, BootCount: 1, UplinkCount: n,
		Config: map[string]string{"INTERVAL": "60"}, TemperaturesCentiCelsius: []int32{2150},
		WifiScans: []*lpv1.WifiScan{{Bssid: []byte{1, 2, 3, 4, 5, 6}, RssiDbm: -70}},
		Activity:  &lpv1.Activity{SleepSeconds: 100},
	})
	return b
}

// exchange sends one request from conn and returns the decoded answer.
func exchange(t testing.TB, conn *net.UDPConn, to *net.UDPAddr, m message.Message) message.Message {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := coder.DefaultCoder.Encode(m, buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteToUDP(buf[:n], to); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err = conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp := message.Message{Options: make(message.Options, 0, 16)}
	if _, err := coder.DefaultCoder.Decode(append([]byte(nil), buf[:n]...), &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func post(mid int32, path string, body []byte) message.Message {
	m := message.Message{Type: message.Confirmable, Code: codes.POST, MessageID: mid, Token: []byte{1, 2, 3, 4}, Payload: body}
	buf := make([]byte, 256)
	m.Options, _, _ = m.Options.SetPath(buf, path)
	m.Options, _, _ = m.Options.SetContentFormat(buf[64:], message.AppOctets)
	return m
}

func dial(t testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUplinkIsStoredOnceAndRetransmissionsGetTheSameAnswer(t *testing.T) {
	e := newEnv(t, coap.Options{})
	c := dial(t)
	first := exchange(t, c, e.addr, post(100, "/uplink", e.uplink(1)))
	if first.Code != codes.Changed || first.Type != message.Acknowledgement || first.MessageID != 100 ||
		string(first.Token) != "\x01\x02\x03\x04" || len(first.Payload) != 0 {
		t.Fatalf("answer %v, want a piggybacked 2.04 with an empty body", first.String())
	}
	// A retransmission (same message id) and the same uplink from a new
	// source port (NAT rebinding, new message id).
	again := exchange(t, c, e.addr, post(100, "/uplink", e.uplink(1)))
	rebound := exchange(t, dial(t), e.addr, post(7, "/uplink", e.uplink(1)))
	if again.Code != codes.Changed || rebound.Code != codes.Changed {
		t.Fatalf("duplicates answered %v / %v", again.Code, rebound.Code)
	}
	recs, _, err := e.devices.Activity(admin, e.dev.Device.ID, device.Range{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d activity rows, %v; want 1", len(recs), err)
	}
	if got := e.live.types(); len(got) != 1 {
		t.Fatalf("live log %v, want one uplink line", got)
	}
}

func TestBadRequestsGetClearAnswers(t *testing.T) {
	e := newEnv(t, coap.Options{})
	c := dial(t)
	wrongKey, _ := proto.Marshal(&lpv1.Uplink{DeviceId: e.dev.Device.ID, Credential: "lpd_nope", UplinkCount: 1})
	badProto := append([]byte{0x0a, byte(len(e.dev.Device.ID))}, e.dev.Device.ID...)
	badProto = append(badProto, 0x12, 0x7f) // field 2 claims 127 bytes that are not there
	get := post(5, "/uplink", nil)
	get.Code = codes.GET
	for _, tc := range []struct {
		name string
		req  message.Message
		want codes.Code
	}{
		{"wrong path", post(1, "/nope", e.uplink(1)), codes.NotFound},
		{"wrong method", get, codes.MethodNotAllowed},
		{"oversize", post(2, "/uplink", make([]byte, 1153)), codes.RequestEntityTooLarge},
		{"malformed", post(3, "/uplink", badProto), codes.BadRequest},
		{"bad credential", post(4, "/uplink", wrongKey), codes.Unauthorized},
		{"invalid", post(6, "/uplink", e.uplink(0)), codes.BadRequest},
	} {
		if got := exchange(t, c, e.addr, tc.req); got.Code != tc.want {
			t.Errorf("%s: %v (%s), want %v", tc.name, got.Code, got.Payload, tc.want)
		}
	}
	// Garbage is dropped; the server still answers afterwards.
	c.WriteToUDP([]byte{0xff, 0x00}, e.addr)
	if got := exchange(t, c, e.addr, post(9, "/uplink", e.uplink(2))); got.Code != codes.Changed {
		t.Fatalf("after garbage: %v", got.Code)
	}
	recs, _, _ := e.devices.Activity(admin, e.dev.Device.ID, device.Range{})
	if len(recs) != 1 {
		t.Fatalf("%d rows stored, want only the good uplink", len(recs))
	}
	// The malformed uplink named a real device: an error line in its log;
	// the invalid (uplink_count 0) one too, after authentication.
	if got := e.live.types(); len(got) != 3 || got[0] != "error" || got[1] != "error" || got[2] != "uplink" {
		t.Fatalf("live log %v, want error, error, uplink", got)
	}
}

func TestIdleSessionsExpire(t *testing.T) {
	e := newEnv(t, coap.Options{ExchangeLifetime: 200 * time.Millisecond})
	for i := 0; i < 20; i++ {
		exchange(t, dial(t), e.addr, post(int32(i), "/nope", nil))
	}
	if n := e.server.Sessions(); n != 20 {
		t.Fatalf("%d sessions, want 20", n)
	}
	time.Sleep(300 * time.Millisecond)
	if n := e.server.Sessions(); n != 0 {
		t.Fatalf("%d sessions after the lifetime, want 0", n)
	}
}

func TestExchangeStateIsBounded(t *testing.T) {
	e := newEnv(t, coap.Options{MaxExchanges: 16})
	c := dial(t)
	for i := 0; i < 100; i++ {
		exchange(t, c, e.addr, post(int32(i), "/nope", nil))
	}
	for i := 0; i < 40; i++ {
		exchange(t, dial(t), e.addr, post(1, "/nope", nil))
	}
	if n := e.server.Sessions(); n > 16 {
		t.Fatalf("%d sessions held with a bound of 16 exchanges", n)
	}
}
