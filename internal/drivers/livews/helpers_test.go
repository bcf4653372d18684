package livews_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/livews"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

const relayToken = "relay-token-0123456789"

var admin = account.WithPrincipal(context.Background(), account.Principal{Admin: true})

// env is the stream endpoint on a real SQLite store and a real embedded
// nats-server, served by httptest on loopback.
type env struct {
	url      string // ws://host
	srv      *livews.Server
	live     *natsbus.LiveLog
	window   *natsbus.LiveWindow
	js       jetstream.JetStream
	reg      *prometheus.Registry
	accounts *account.Service
	devices  *device.Service
	key      string // API key of account A
	dev      string // a device of account A
	otherKey string // API key of account B
	otherDev string // a device of account B
}

func newEnv(t testing.TB, opt livews.Options) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{reg: prometheus.NewRegistry()}
	e.accounts = account.NewService(st.Accounts(), domain.SystemClock{})
	e.devices = device.NewService(st.Devices(), domain.SystemClock{}, device.Options{})
	for i, name := range []string{"alpha", "beta"} {
		c, err := e.accounts.Create(admin, account.CreateInput{Name: name, WithAPIKey: true})
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.devices.Create(admin, c.Account.ID, "sensor")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			e.key, e.dev = c.Secret, d.Device.ID
		} else {
			e.otherKey, e.otherDev = c.Secret, d.Device.ID
		}
	}

	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	e.js = js
	e.window, err = natsbus.NewLiveWindow(ctx, js, natsbus.LiveLogWindow{Lines: 100, Age: time.Hour, MaxBytes: 48 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.live, err = natsbus.NewLiveLog(js, natsbus.LiveLogOptions{Ensure: e.window.Ensure})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.live.Close)

	opt.Auth, opt.Devices, opt.Window, opt.Registerer = e.accounts, e.devices, e.window, e.reg
	if opt.ServiceTokens == nil {
		opt.ServiceTokens = []string{relayToken}
	}
	e.srv, err = livews.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	fdone := make(chan struct{})
	go func() { _ = e.srv.Run(fctx, e.window); close(fdone) }()
	mux := http.NewServeMux()
	mux.Handle("GET /ws", e.srv)
	hs := httptest.NewServer(mux)
	e.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = e.srv.Shutdown(sctx)
		hs.Close()
		stop()
		<-fdone
	})
	time.Sleep(100 * time.Millisecond) // the feed's consumer delivers lines stored from its start on
	return e
}

// publish stores n lines of dev and waits until the last is in the window.
func (e *env) publish(t *testing.T, dev string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		e.live.Publish(dev, device.Line{DeviceID: dev, Timestamp: time.Now().UTC(), Type: "uplink",
			Message: fmt.Sprintf("Received uplink #%d", i), Data: map[string]any{"uplinkCount": i}})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		last, ok, err := e.window.Last(context.Background(), dev)
		if err != nil {
			t.Fatal(err)
		}
		if ok && strings.Contains(string(last.Body), fmt.Sprintf("#%d\"", from+n-1)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("line #%d of %s not stored", from+n-1, dev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type hello struct {
	Type      string `json:"type"`
	DeviceID  string `json:"deviceId"`
	Epoch     string `json:"epoch"`
	Recovered bool   `json:"recovered"`
	Reason    string `json:"reason"`
	Gap       *struct {
		AfterSeq  uint64 `json:"afterSeq"`
		BeforeSeq uint64 `json:"beforeSeq"`
	} `json:"gap"`
	LastSeq uint64 `json:"lastSeq"`
}

type wireLine struct {
	DeviceID string         `json:"deviceId"`
	Type     string         `json:"type"`
	Message  string         `json:"message"`
	Data     map[string]any `json:"data"`
	Seq      uint64         `json:"seq"`
	Prev     uint64         `json:"prev"`
	Epoch    string         `json:"epoch"`
}

func (l wireLine) n() int { v, _ := l.Data["uplinkCount"].(float64); return int(v) }

type client struct {
	t     testing.TB
	ws    *websocket.Conn
	hello hello
}

// dial connects with the Authorization header and reads the hello.
func (e *env) dial(t testing.TB, query, token string) *client {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, e.url+"/ws?"+query, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", query, err, status)
	}
	ws.SetReadLimit(1 << 20)
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	if err := json.Unmarshal(c.next(), &c.hello); err != nil || c.hello.Type != "hello" {
		t.Fatalf("first frame is not a hello: %v %+v", err, c.hello)
	}
	return c
}

func (c *client) next() []byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return b
}

func (c *client) line() wireLine {
	c.t.Helper()
	var l wireLine
	if err := json.Unmarshal(c.next(), &l); err != nil || l.Seq == 0 {
		c.t.Fatalf("not a line: %v %+v", err, l)
	}
	return l
}

// lines reads n lines and checks their continuity from prev.
func (c *client) lines(n int, prev uint64) []wireLine {
	c.t.Helper()
	out := make([]wireLine, n)
	for i := range out {
		out[i] = c.line()
		if out[i].Prev != prev {
			c.t.Fatalf("line %d (#%d): prev %d, want %d", i, out[i].n(), out[i].Prev, prev)
		}
		prev = out[i].Seq
	}
	return out
}

// quiet asserts nothing arrives for a moment.
func (c *client) quiet() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, b, err := c.ws.Read(ctx); err == nil {
		c.t.Fatalf("unexpected frame %s", b)
	}
}

// status dials and returns the HTTP status of a refused upgrade.
func (e *env) status(t *testing.T, query string, h http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, e.url+"/ws?"+query, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode
}
