package pickupgw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/pickupgw"
)

// env is a gateway on a real SQLite store, served by httptest on loopback.
type env struct {
	url      string
	svc      *pickup.Service
	store    *sqlstore.Store
	accounts *account.Service
	key      string // an account API key
	account  string
	srv      *pickupgw.Server
}

var admin = account.WithPrincipal(context.Background(), account.Principal{Admin: true})

func newEnv(t *testing.T, opt pickupgw.Options, popt pickup.Options) *env {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st}
	e.accounts = account.NewService(st.Accounts(), domain.SystemClock{})
	c, err := e.accounts.Create(admin, account.CreateInput{Name: "mediators", WithAPIKey: true})
	if err != nil {
		t.Fatal(err)
	}
	e.key, e.account = c.Secret, c.Account.ID
	if popt.AckTimeout == 0 {
		popt.AckTimeout = 2 * time.Second
	}
	if popt.TakeoverGrace == 0 {
		popt.TakeoverGrace = 200 * time.Millisecond
	}
	popt.Sweep = 20 * time.Millisecond
	hub := pickupgw.NewHub(nil)
	e.svc = pickup.NewService(st.Pickup(), hub, nil, domain.SystemClock{}, nil, popt)
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan struct{})
	go func() { _ = e.svc.Run(ctx); close(runDone) }()
	if opt.Auth == nil && !opt.Open {
		opt.Auth = e.accounts
	}
	e.srv = pickupgw.New(e.svc, hub, opt)
	hs := httptest.NewServer(e.srv)
	e.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = e.srv.Shutdown(sctx)
		hs.Close()
		e.svc.Close()
		cancel()
		<-runDone
		st.Close()
	})
	return e
}

// client is a minimal JSON-RPC client over coder/websocket; the
// compatibility suites use the mediator's own library.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	mu     sync.Mutex
	next   atomic.Int64
	wait   map[string]chan json.RawMessage
	notes  chan json.RawMessage
	closed chan struct{}
}

func (e *env) dial(t *testing.T) *client {
	t.Helper()
	return dialHeader(t, e.url, http.Header{"Authorization": {"Bearer " + e.key}})
}

func dialHeader(t *testing.T, url string, h http.Header) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(64 << 20)
	c := &client{t: t, ws: ws, wait: map[string]chan json.RawMessage{}, notes: make(chan json.RawMessage, 100000), closed: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { ws.CloseNow() })
	return c
}

func (c *client) read() {
	defer close(c.closed)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(b, &m) != nil || b[0] == '[' {
			c.deliver("batch", b)
			continue
		}
		if m.Method != "" && m.ID == nil {
			c.notes <- b
			continue
		}
		c.deliver(string(m.ID), b)
	}
}

func (c *client) deliver(id string, b []byte) {
	c.mu.Lock()
	ch := c.wait[id]
	delete(c.wait, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- b
	}
}

// raw sends frame and returns the response that carries id (or "batch").
func (c *client) raw(id string, frame string) json.RawMessage {
	c.t.Helper()
	ch := make(chan json.RawMessage, 1)
	c.mu.Lock()
	c.wait[id] = ch
	c.mu.Unlock()
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	select {
	case b := <-ch:
		return b
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no response to %s", frame)
		return nil
	}
}

type rpcErr struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call invokes method with named params and returns the raw result or the error.
func (c *client) call(method string, params any) (json.RawMessage, *rpcErr) {
	c.t.Helper()
	id := fmt.Sprint(c.next.Add(1))
	p, _ := json.Marshal(params)
	b := c.raw(id, fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":%s,"id":%s}`, method, p, id))
	var r struct {
		JSONRPC string          `json:"jsonrpc"`
		Result  json.RawMessage `json:"result"`
		Error   *rpcErr         `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.JSONRPC != "2.0" || (r.Result == nil) == (r.Error == nil) {
		c.t.Fatalf("malformed response %s", b)
	}
	return r.Result, r.Error
}

// ok calls and fails the test on an error.
func (c *client) ok(method string, params any) json.RawMessage {
	c.t.Helper()
	res, err := c.call(method, params)
	if err != nil {
		c.t.Fatalf("%s: %d %s", method, err.Code, err.Message)
	}
	return res
}

type queued struct {
	ID               string          `json:"id"`
	ReceivedAt       string          `json:"receivedAt"`
	EncryptedMessage json.RawMessage `json:"encryptedMessage"`
}

type note struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  struct {
		ConnectionID string   `json:"connectionId"`
		Messages     []queued `json:"messages"`
	} `json:"params"`
}

// note waits for the next notification.
func (c *client) note(within time.Duration) (note, bool) {
	c.t.Helper()
	select {
	case b := <-c.notes:
		var n note
		if err := json.Unmarshal(b, &n); err != nil || n.JSONRPC != "2.0" || n.Method != "messagesReceived" {
			c.t.Fatalf("bad notification %s", b)
		}
		return n, true
	case <-time.After(within):
		return note{}, false
	}
}

func payload(i int) map[string]any {
	return map[string]any{"protected": "eyJ", "iv": "iv", "ciphertext": fmt.Sprintf("ct-%d", i), "tag": "tag"}
}

func dialRaw(url string, h http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if ws != nil {
		ws.CloseNow()
	}
	return ws, resp, err
}

func accountInput(name string) account.CreateInput {
	return account.CreateInput{Name: name, WithAPIKey: true}
}
