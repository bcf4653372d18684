package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// streamFrame is a hello or a line of GET /ws (docs/live-logs.md).
type streamFrame struct {
	Type      string         `json:"type"`
	DeviceID  string         `json:"deviceId"`
	Message   string         `json:"message"`
	Data      map[string]any `json:"data"`
	Timestamp time.Time      `json:"timestamp"`
	Seq       uint64         `json:"seq"`
	Prev      uint64         `json:"prev"`
	Epoch     string         `json:"epoch"`
	Recovered bool           `json:"recovered"`
	Reason    string         `json:"reason"`
	LastSeq   uint64         `json:"lastSeq"`
}

type streamClient struct {
	t     *testing.T
	ws    *websocket.Conn
	hello streamFrame
}

// dialStream opens a device's stream on s with an API key and reads the hello.
func dialStream(t *testing.T, s *server, token, query string) *streamClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(s.url, "http") + "/ws?" + query
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", u, err, st)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &streamClient{t: t, ws: ws}
	if c.hello = c.next(); c.hello.Type != "hello" {
		t.Fatalf("first frame %+v is not a hello", c.hello)
	}
	return c
}

func (c *streamClient) next() streamFrame {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f streamFrame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("frame %s: %v", b, err)
	}
	return f
}

// streamAccount creates an account with an API key and a device in it.
func streamAccount(t *testing.T, s *server, name string) (string, *lpv1.CreateDeviceResponse) {
	t.Helper()
	return s.accountWithDevice(t, name)
}

// uplink sends uplink n of dev to s's CoAP port with libcoap's client.
func uplink(t *testing.T, s *server, dev *lpv1.CreateDeviceResponse, n int) {
	t.Helper()
	coapAddr, _ := s.coapAddrs(t)
	out, errs := coapClient(t, "coap-client-notls", "-m", "post", "-f", encodeUplink(t, uplinkText(dev, 1, n, true)),
		"coap://"+coapAddr+"/uplink")
	if strings.TrimSpace(errs) != "" || out != "" {
		t.Fatalf("uplink %d: stderr %q stdout %q", n, errs, out)
	}
}

func wantLine(t *testing.T, f streamFrame, dev string, n int, prev uint64) {
	t.Helper()
	if f.Seq == 0 || f.DeviceID != dev || f.Message != fmt.Sprintf("Received uplink #%d", n) || f.Prev != prev ||
		f.Data["uplinkCount"] != float64(n) || f.Timestamp.IsZero() {
		t.Fatalf("line %+v, want uplink #%d of %s after seq %d", f, n, dev, prev)
	}
}

// Two replicas on one PostgreSQL, sharing A's embedded NATS: an uplink
// received by A reaches a subscriber on B; a client that drops resumes on
// A from the seq B gave it, with nothing missed and nothing repeated.
func TestStreamAcrossReplicasWithResume(t *testing.T) {
	needTool(t, "coap-client-notls")
	needTool(t, "protoc")
	db := pgtest.New(t)
	natsAddr, natsToken := freeTCP(t), "e2e-stream-nats-token"
	relayTok := "relay-e2e-token-0123456789"
	a := startServe(t, "", nil, "--database", db, "--nats-listen", natsAddr, "--nats-token", natsToken,
		"--relay-tokens", relayTok)
	b := startServe(t, "", nil, "--database", db, "--nats", "nats://"+natsToken+"@"+natsAddr, "--relay-tokens", relayTok)
	b.token = a.token
	key, dev := streamAccount(t, a, "stream-replicas")
	id := dev.GetDevice().GetId()

	onB := dialStream(t, b, key, "deviceId="+id)
	if !onB.hello.Recovered || onB.hello.LastSeq != 0 || onB.hello.Epoch == "" {
		t.Fatalf("hello on B: %+v", onB.hello)
	}
	viaRelayToken := dialStream(t, a, relayTok, "deviceId="+id)

	sent := time.Now()
	uplink(t, a, dev, 1)
	l1 := onB.next()
	t.Logf("CoAP uplink on A -> subscriber on B: %v (coap-client round trip included)", time.Since(sent))
	wantLine(t, l1, id, 1, 0)
	if l1.Epoch != onB.hello.Epoch {
		t.Fatalf("epoch %q, hello said %q", l1.Epoch, onB.hello.Epoch)
	}
	wantLine(t, viaRelayToken.next(), id, 1, 0)
	uplink(t, a, dev, 2)
	l2 := onB.next()
	wantLine(t, l2, id, 2, l1.Seq)

	// The subscriber drops; two uplinks happen; it resumes on the other replica.
	onB.ws.CloseNow()
	uplink(t, b, dev, 3) // B's own CoAP port this time
	uplink(t, a, dev, 4)
	r := dialStream(t, a, key, fmt.Sprintf("deviceId=%s&seq=%d&epoch=%s", id, l2.Seq, l1.Epoch))
	if !r.hello.Recovered || r.hello.LastSeq != l2.Seq {
		t.Fatalf("resume hello: %+v", r.hello)
	}
	l3 := r.next()
	wantLine(t, l3, id, 3, l2.Seq)
	l4 := r.next()
	wantLine(t, l4, id, 4, l3.Seq)
	uplink(t, b, dev, 5)
	wantLine(t, r.next(), id, 5, l4.Seq)

	// History on connect on either replica: the same lines.
	h := dialStream(t, b, key, "deviceId="+id+"&last=2")
	wantLine(t, h.next(), id, 4, l3.Seq)

	// Another account's key: 403 on both replicas; the metrics count.
	other, _ := streamAccount(t, a, "stream-other")
	for _, s := range []*server{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/ws?deviceId="+id,
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + other}}})
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another account's key: %v %v", resp, err)
		}
	}
	waitMetric(t, b, "liveplane_ws_subscribers 1")
	if v := b.metric(t, "liveplane_ws_delivered_total"); v < 3 {
		t.Fatalf("delivered on B = %v", v)
	}
}

// Across a restart of serve (and its embedded NATS): the default window is
// on the file store, so a resume continues where it was, same epoch, no
// gap; a memory window is gone, the epoch changes and a resume says so
// instead of pretending nothing was missed.
func TestStreamResumeAfterRestart(t *testing.T) {
	needTool(t, "coap-client-notls")
	needTool(t, "protoc")
	for _, storage := range []string{"file", "memory"} {
		t.Run(storage, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"--livelog-storage=" + storage}
			s := startServe(t, dir, nil, args...)
			key, dev := streamAccount(t, s, "stream-epoch-"+storage)
			id := dev.GetDevice().GetId()
			c := dialStream(t, s, key, "deviceId="+id)
			uplink(t, s, dev, 1)
			l1 := c.next()
			wantLine(t, l1, id, 1, 0)
			s.stop()

			s2 := startServe(t, dir, nil, args...)
			s2.token = s.token
			uplink(t, s2, dev, 2)
			r := dialStream(t, s2, key, fmt.Sprintf("deviceId=%s&seq=%d&epoch=%s", id, l1.Seq, l1.Epoch))
			if storage == "file" {
				if !r.hello.Recovered || r.hello.Epoch != l1.Epoch || r.hello.LastSeq != l1.Seq {
					t.Fatalf("resume after restart: %+v", r.hello)
				}
				wantLine(t, r.next(), id, 2, l1.Seq) // chained to the line before the restart
				return
			}
			if r.hello.Recovered || r.hello.Reason != "epoch" || r.hello.Epoch == l1.Epoch {
				t.Fatalf("resume after restart: %+v", r.hello)
			}
			l2 := r.next() // every retained line of the new epoch
			if l2.Message != "Received uplink #2" || l2.Epoch != r.hello.Epoch {
				t.Fatalf("line after restart: %+v", l2)
			}
		})
	}
}
