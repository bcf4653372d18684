package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var pickupLine = regexp.MustCompile(`msg="liveplane serving" .*pickup=(\S+)`)

// pickupAddr is the gateway's address, from the serving line.
func (s *server) pickupAddr(t *testing.T) string {
	t.Helper()
	m := pickupLine.FindStringSubmatch(s.log())
	if m == nil || m[1] == "off" {
		t.Fatalf("no pickup address in the log:\n%s", s.log())
	}
	return m[1]
}

// accountKey creates an account with an API key through the CLI.
func (s *server) accountKey(t *testing.T, name string) string {
	t.Helper()
	out, errOut, code := cli(t, []string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + s.token},
		"accounts", "create", "--name", name, "--with-key", "--output", "json")
	var res struct {
		APIKeySecret string `json:"apiKeySecret"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.APIKeySecret == "" {
		t.Fatalf("create account %s: exit %d %s %s", name, code, out, errOut)
	}
	return res.APIKeySecret
}

// requireTool skips, loudly, when a compatibility client is missing, and
// fails instead under the test command (LIVEPLANE_REQUIRE_COMPAT=1), which
// installs them.
func requireTool(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("LIVEPLANE_REQUIRE_COMPAT") == "1" {
		t.Fatalf("%s is missing but LIVEPLANE_REQUIRE_COMPAT=1: run ./scripts/test", what)
	}
	t.Skipf("SKIPPED: %s is missing (./scripts/test installs it)", what)
}

// mpr is a small JSON-RPC client of the pickup gateway for the e2e tests:
// calls matched by id, notifications on a channel.
type mpr struct {
	t       *testing.T
	ws      *websocket.Conn
	mu      sync.Mutex
	next    int64
	waiting map[int64]chan mprReply
	notes   chan mprNote
	closed  chan struct{}
}

type mprReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type mprNote struct {
	Params struct {
		ConnectionID string `json:"connectionId"`
		Messages     []struct {
			ID string `json:"id"`
		} `json:"messages"`
	} `json:"params"`
	At time.Time
}

func dialMPR(t *testing.T, addr, key string) (*mpr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + key}}})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(32 << 20)
	c := &mpr{t: t, ws: ws, waiting: map[int64]chan mprReply{}, notes: make(chan mprNote, 1<<16), closed: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { ws.CloseNow() })
	return c, nil
}

func mustDialMPR(t *testing.T, addr, key string) *mpr {
	t.Helper()
	c, err := dialMPR(t, addr, key)
	if err != nil {
		t.Fatalf("dial pickup %s: %v", addr, err)
	}
	return c
}

func (c *mpr) read() {
	defer close(c.closed)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			for id, ch := range c.waiting {
				close(ch)
				delete(c.waiting, id)
			}
			c.mu.Unlock()
			return
		}
		var m struct {
			ID *int64 `json:"id"`
		}
		_ = json.Unmarshal(b, &m)
		if m.ID == nil {
			var n mprNote
			if json.Unmarshal(b, &n) == nil {
				n.At = time.Now()
				c.notes <- n
			}
			continue
		}
		var r mprReply
		_ = json.Unmarshal(b, &r)
		c.mu.Lock()
		ch := c.waiting[*m.ID]
		delete(c.waiting, *m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// call returns the result, or an error for a JSON-RPC error or a lost socket.
func (c *mpr) call(method string, params any, out any) error {
	p, _ := json.Marshal(params)
	ch := make(chan mprReply, 1)
	c.mu.Lock()
	c.next++
	id := c.next
	c.waiting[id] = ch
	c.mu.Unlock()
	frame := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":%s,"id":%d}`, method, p, id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		return err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return errors.New("socket closed")
		}
		if r.Error != nil {
			return fmt.Errorf("json-rpc %d: %s", r.Error.Code, r.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-c.closed:
		return errors.New("socket closed")
	case <-ctx.Done():
		return errors.New("no answer in 10s")
	}
}

func (c *mpr) must(method string, params any, out any) {
	c.t.Helper()
	if err := c.call(method, params, out); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
}

func (c *mpr) add(conn string, token map[string]string) string {
	c.t.Helper()
	var r struct{ MessageID string }
	p := map[string]any{"connectionId": conn, "recipientDids": []string{"did:r"},
		"payload": map[string]string{"protected": "eyJ", "iv": "aXY", "ciphertext": "Y3Q", "tag": "dGFn"}}
	if token != nil {
		p["pushNotificationToken"] = token
	}
	c.must("addMessage", p, &r)
	return r.MessageID
}

// metric reads one sample of the server's /metrics, 0 when absent.
func (s *server) metric(t *testing.T, line string) float64 {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), line+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
