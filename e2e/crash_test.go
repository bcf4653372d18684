package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liveplane/liveplane/internal/eventcodec"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// The process is SIGKILLed between commit and publish (after-commit), or
// after JetStream stored the event but before the outbox row was deleted
// (after-publish). After a restart on the same data dir, a durable consumer
// sees the account's created event exactly once: the first case by the
// outbox re-publishing, the second by JetStream's dedupe on Nats-Msg-Id.
func TestOutboxCrashDeliversExactlyOnce(t *testing.T) {
	for _, fp := range []string{"after-commit", "after-publish"} {
		t.Run(fp, func(t *testing.T) {
			dir := t.TempDir()
			natsAddr := freeAddr(t)
			natsArgs := []string{"--nats-listen", natsAddr}
			natsEnv := []string{"LIVEPLANE_NATS_TOKEN=e2e-token"}

			s := startServe(t, dir, append([]string{"LIVEPLANE_FAILPOINTS=" + fp}, natsEnv...), natsArgs...)
			c := s.accounts(bearer(s.token))
			_, err := c.CreateAccount(context.Background(), connect.NewRequest(&lpv1.CreateAccountRequest{Name: "crash"}))
			s.waitExit(t, 10*time.Second)
			t.Logf("create answered %v before the kill", err)
			if !strings.Contains(s.cmd.ProcessState.String(), "killed") {
				t.Fatalf("serve was not killed by the failpoint: %s\n%s", s.cmd.ProcessState, s.log())
			}

			s = startServe(t, dir, natsEnv, natsArgs...)
			c = s.accounts(bearer(s.token))
			list, err := c.ListAccounts(context.Background(), connect.NewRequest(&lpv1.ListAccountsRequest{}))
			if err != nil || len(list.Msg.GetAccounts()) != 1 {
				t.Fatalf("after restart: %v %v; the committed account must survive", list, err)
			}
			id := list.Msg.GetAccounts()[0].GetId()

			nc, err := nats.Connect("nats://"+natsAddr, nats.Token("e2e-token"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cons, err := js.CreateOrUpdateConsumer(ctx, "LIVEPLANE_EVENTS", jetstream.ConsumerConfig{
				Durable: "e2e-" + fp, AckPolicy: jetstream.AckExplicitPolicy,
				FilterSubject: "liveplane.events.account." + id + ".>",
			})
			if err != nil {
				t.Fatal(err)
			}
			// Drain what arrives, then keep listening past one more outbox poll
			// round (1 s): a duplicate would arrive within it.
			seen := map[string]int{}
			quietUntil := time.Time{}
			for deadline := time.Now().Add(15 * time.Second); ; {
				batch, err := cons.Fetch(100, jetstream.FetchMaxWait(200*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				for m := range batch.Messages() {
					ev, err := eventcodec.Decode(m.Data())
					if err != nil {
						t.Fatal(err)
					}
					if m.Headers().Get("Nats-Msg-Id") != ev.ID {
						t.Errorf("Nats-Msg-Id %q != event id %q", m.Headers().Get("Nats-Msg-Id"), ev.ID)
					}
					seen[ev.Type+" "+ev.ID]++
					_ = m.Ack()
				}
				if len(seen) > 0 && quietUntil.IsZero() {
					quietUntil = time.Now().Add(2 * time.Second)
				}
				if !quietUntil.IsZero() && time.Now().After(quietUntil) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no event for the account within 15s\n%s", s.log())
				}
			}
			if fp == "after-publish" {
				// The restarted process published the event again; only
				// JetStream's dedupe keeps the count at one.
				waitMetric(t, s, "liveplane_outbox_published_total 1")
			}
			if len(seen) != 1 {
				t.Fatalf("events for the account: %v, want exactly one account.created", seen)
			}
			for k, n := range seen {
				if n != 1 || !strings.HasPrefix(k, "account.created ") {
					t.Fatalf("event %s delivered %d times, want once", k, n)
				}
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitMetric(t *testing.T, s *server, line string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.url + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if l == line {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("metric %q never seen:\n%s", line, grep(string(b), "liveplane_outbox"))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(out)
}
