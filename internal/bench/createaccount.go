package bench

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"

	"connectrpc.com/connect"

	liveplanev1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// CreateAccount is the create-account workload: the CreateAccount RPC with
// a fresh name per request, against a GetAccount baseline.
type CreateAccount struct {
	baseline bool
}

var _ Workload = (*CreateAccount)(nil)

func (*CreateAccount) Name() string { return "create-account" }

func (*CreateAccount) Help() string {
	return `CreateAccount RPCs (admin token), a new unique account name per request.
Then, in the same run and with the same load shape, a baseline: GetAccount of
one existing account, a read through the same HTTP, Connect and auth stack.
The gap between the two is the cost of the write itself (validation, the
transaction, the outbox event, the commit).
Extra figures:
  baseline_get_account  the baseline's achieved rate and latency
  ratio_to_baseline     closed loop (--rate=0): create ops/s ÷ get ops/s;
                        0.25 means a create costs about four reads.
                        open loop: create p50 latency ÷ get p50 latency;
                        4 means a create takes four times as long as a read.
  ratio_basis           "throughput" or "p50_latency": which of the two
Accounts are never deleted; prefer --spawn (a throw-away data directory).`
}

func (c *CreateAccount) Flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.baseline, "baseline", true, "also measure the GetAccount baseline and the ratio to it")
}

func (c *CreateAccount) Run(ctx context.Context, env Env) (Result, error) {
	conns := env.Load.MaxInFlight
	if env.Load.Rate == 0 {
		conns = env.Load.Concurrency
	}
	hc := NewHTTPClient(conns)
	defer hc.CloseIdleConnections()
	client := liveplanev1connect.NewAccountServiceClient(hc, env.ServerURL, connect.WithInterceptors(bearer(env.Token)))
	prefix := namePrefix()

	var base *liveplanev1.Account
	if c.baseline {
		// Made first, so a wrong URL or token fails here, not after a long run.
		resp, err := client.CreateAccount(ctx, connect.NewRequest(&liveplanev1.CreateAccountRequest{
			Name: prefix + "-base-0", DisplayName: "bench baseline",
		}))
		if err != nil {
			return Result{}, fmt.Errorf("create baseline account: %w", err)
		}
		base = resp.Msg.GetAccount()
	}

	res, err := Run(ctx, env.Load, func(ctx context.Context, i int64) error {
		_, err := client.CreateAccount(ctx, connect.NewRequest(&liveplanev1.CreateAccountRequest{
			Name: accountName(prefix, i), DisplayName: "bench",
		}))
		return err
	})
	res.Workload = c.Name()
	if err != nil || !c.baseline {
		return res, err
	}

	env.Log.Info("baseline: GetAccount with the same load shape")
	id := base.GetId()
	b, err := Run(ctx, env.Load, func(ctx context.Context, i int64) error {
		_, err := client.GetAccount(ctx, connect.NewRequest(&liveplanev1.GetAccountRequest{Id: id}))
		return err
	})
	if err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}
	res.Extra = withExtra(res.Extra, "baseline_get_account", b.Summary())
	if ratio, basis, ok := baselineRatio(res, b); ok {
		res.Extra["ratio_to_baseline"] = ratio
		res.Extra["ratio_basis"] = basis
	}
	return res, nil
}

// baselineRatio compares what each mode controls: closed loop lets
// throughput float, so compare throughput; open loop fixes throughput, so
// compare typical latency.
func baselineRatio(create, get Result) (ratio float64, basis string, ok bool) {
	if create.Mode == ClosedLoop {
		if get.AchievedRate <= 0 {
			return 0, "", false
		}
		return create.AchievedRate / get.AchievedRate, "throughput", true
	}
	if get.Latency.P50 <= 0 {
		return 0, "", false
	}
	return create.Latency.P50 / get.Latency.P50, "p50_latency", true
}

// namePrefix is "b" and seven random base-36 characters: a fresh namespace
// per run, so runs against a long-lived server do not collide.
func namePrefix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte{'b', 0, 0, 0, 0, 0, 0, 0}
	for i := 1; i < len(b); i++ {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// accountName is a valid DNS label of at most 22 characters: the prefix
// starts with a letter, base 36 adds no '-', and it ends in a digit or letter.
func accountName(prefix string, i int64) string {
	return prefix + "-" + strconv.FormatInt(i, 36)
}

func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	}
}
