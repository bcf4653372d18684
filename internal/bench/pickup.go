package bench

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	liveplanev1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// Pickup is the message pickup repository workload family.
type Pickup struct {
	scenario  string
	url       string
	peerURL   string
	peerArgs  string
	key       string
	sockets   int
	queues    int
	payload   int
	sessions  int
	postgres  string
	replayDB  int
	messages  int
	style     string
	takeovers int
}

var _ Workload = (*Pickup)(nil)

func (*Pickup) Name() string { return "pickup" }

func (*Pickup) Help() string {
	return `The pickup gateway (WebSocket JSON-RPC), one scenario per run:
  add       durable addMessage: 1 KiB payloads over --sockets sockets and
            --queues connections, many calls in flight; latency = ack.
            Afterwards every queue is counted (stored >= acknowledged) and emptied.
  replay    the Postgres queue pattern other mediators use, on --postgres:
            INSERT ... RETURNING + NOTIFY per message (what their addMessage
            costs), same load shape, through --replay-pool connections.
  add-vs-replay  add, then replay, and extra.ratio = add/s ÷ replay/s.
  live      --sessions live sessions held on --sockets sockets (on --peer-url
            when set: across instances); each op adds a message to one of them
            and completes when its messagesReceived arrives: latency =
            add -> notification. The holder acknowledges (removeMessages).
  drain     fills --messages messages, then picks every queue up, V1 style
            (takeFromQueue deleteMessages) or V2 style (take, then remove):
            --style v1|v2. Extra: duplicates, left (must both be 0).
  takeover  --takeovers scripted takeovers with late removeLiveSession and
            removeMessages from the superseded socket. Extra:
            superseded_deliveries, lost, stale_removes_honoured (must be 0).
A spawned server's pickup gateway listens on a free loopback port, which
the workload finds in its start-up line (--pickup-url overrides; without
--spawn the default is ws://127.0.0.1:3100); --peer-args spawns a second
instance (e.g. the same --database and --nats) whose gateway is found the
same way, or is --peer-url.
The token (admin) creates an account and uses its API key.`
}

func (p *Pickup) Flags(fs *flag.FlagSet) {
	fs.StringVar(&p.scenario, "scenario", "add", "add, replay, add-vs-replay, live, drain or takeover")
	fs.StringVar(&p.url, "pickup-url", "", "the gateway's WebSocket `URL` (default: the spawned server's gateway, else ws://127.0.0.1:3100)")
	fs.StringVar(&p.peerURL, "peer-url", "", "live: a second instance's gateway `URL`; sessions are held there, adds go to --pickup-url")
	fs.StringVar(&p.peerArgs, "peer-args", "", "spawn the second instance with these serve flags (space-separated)")
	fs.IntVar(&p.sockets, "sockets", 8, "gateway sockets (mediator connections) the load is spread over")
	fs.IntVar(&p.queues, "queues", 256, "DIDComm connections (queues) the messages are spread over")
	fs.IntVar(&p.payload, "payload", 1024, "payload `bytes` per message")
	fs.IntVar(&p.sessions, "sessions", 1000, "live: live sessions")
	fs.StringVar(&p.postgres, "postgres", "", "replay: PostgreSQL `URL` (the one the server uses)")
	fs.IntVar(&p.replayDB, "replay-pool", 10, "replay: database connections (10 is node-postgres' default Pool, which the replayed repository uses)")
	fs.IntVar(&p.messages, "messages", 1_000_000, "drain: messages to fill and pick up")
	fs.StringVar(&p.style, "style", "v2", "drain: v1 (take with deleteMessages) or v2 (take, then removeMessages)")
	fs.IntVar(&p.takeovers, "takeovers", 10_000, "takeover: how many")
}

func (p *Pickup) Run(ctx context.Context, env Env) (Result, error) {
	if p.url == "" {
		p.url = "ws://127.0.0.1:3100"
		if env.Server != nil && env.Server.PickupAddr() != "" {
			p.url = "ws://" + env.Server.PickupAddr()
		}
	}
	if p.key == "" {
		key, err := pickupKey(ctx, env)
		if err != nil {
			return Result{}, err
		}
		p.key = key
	}
	if p.peerArgs != "" {
		peer, err := StartServer(ctx, ServerOptions{Args: strings.Fields(p.peerArgs), CPUs: []int{0}})
		if err != nil {
			return Result{}, fmt.Errorf("--peer-args: %w", err)
		}
		defer peer.Stop()
		if p.peerURL == "" && peer.PickupAddr() != "" {
			p.peerURL = "ws://" + peer.PickupAddr()
		}
		env.Log.Info("peer ready", "pid", peer.PID(), "pickup", p.peerURL)
	}
	var (
		res Result
		err error
	)
	switch p.scenario {
	case "add":
		res, err = p.runAdd(ctx, env)
	case "replay":
		res, err = p.runReplay(ctx, env)
	case "add-vs-replay":
		res, err = p.runAddVsReplay(ctx, env)
	case "live":
		res, err = p.runLive(ctx, env)
	case "drain":
		res, err = p.runDrain(ctx, env)
	case "takeover":
		res, err = p.runTakeover(ctx, env)
	default:
		return Result{}, fmt.Errorf("--scenario %q: want add, replay, add-vs-replay, live, drain or takeover", p.scenario)
	}
	res.Workload = p.Name() + "/" + p.scenario
	return res, err
}

// pickupKey creates an account with an API key through the RPC API.
func pickupKey(ctx context.Context, env Env) (string, error) {
	client := liveplanev1connect.NewAccountServiceClient(NewHTTPClient(1), env.ServerURL, connect.WithInterceptors(bearer(env.Token)))
	resp, err := client.CreateAccount(ctx, connect.NewRequest(&liveplanev1.CreateAccountRequest{
		Name: namePrefix() + "-pickup", DisplayName: "pickup bench", CreateApiKey: true,
	}))
	if err != nil {
		return "", fmt.Errorf("create the bench account (needs the admin token): %w", err)
	}
	return resp.Msg.GetApiKeySecret(), nil
}

// addParams returns the params of an addMessage to queue q whose payload is
// about size bytes and carries n (so a notification can be matched to it).
func addParams(q string, size int, n int64) []byte {
	pad := max(size-90, 1)
	return fmt.Appendf(nil, `{"connectionId":%q,"recipientDids":["did:example:%s"],"payload":{"protected":"eyJlbmMiOiJ4YzIwcCJ9","iv":"aXY","ciphertext":"%s","tag":"dGFn","n":%d}}`,
		q, q, strings.Repeat("x", pad), n)
}
