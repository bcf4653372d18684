package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// `liveplane provisioning-keys create|list|revoke`: the keys devices enrol
// with.
func runProvKeys(ctx context.Context, e *env, args []string) error {
	verbs := map[string]func(context.Context, *env, []string) error{
		"create": provKeysCreate, "list": provKeysList, "revoke": provKeysRevoke,
	}
	if len(args) == 0 || verbs[args[0]] == nil {
		return usagef("usage: liveplane provisioning-keys create|list|revoke [flags]")
	}
	return verbs[args[0]](ctx, e, args[1:])
}

var provKeyHeader = []string{"ID", "ACCOUNT", "DESCRIPTION", "USES", "MAX", "EXPIRES", "CREATED", "REVOKED"}

func provKeyRow(k *lpv1.ProvisioningKey) []string {
	max := "-"
	if k.GetMaxUses() > 0 {
		max = strconv.FormatUint(uint64(k.GetMaxUses()), 10)
	}
	return []string{k.GetId(), k.GetAccountId(), k.GetDescription(), strconv.FormatUint(uint64(k.GetUses()), 10), max,
		stamp(k.GetExpireTime()), stamp(k.GetCreateTime()), stamp(k.GetRevokeTime())}
}

func provKeysClient(api *apiClient) liveplanev1connect.ProvisioningKeyServiceClient {
	return liveplanev1connect.NewProvisioningKeyServiceClient(api.http, api.base, api.auth)
}

func provKeysCreate(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("provisioning-keys create", e)
	acc := c.fs.String("account", "", "account id (required)")
	desc := c.fs.String("description", "", "what the key is for (a factory line, a batch)")
	maxUses := c.fs.Uint("max-uses", 0, "enrolments allowed (0 = unlimited)")
	expires := c.fs.String("expires", "", "lifetime (such as 720h) or an RFC 3339 time; empty = never")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if *acc == "" {
		return usagef("--account is required")
	}
	req := &lpv1.CreateProvisioningKeyRequest{AccountId: *acc, Description: *desc, MaxUses: uint32(*maxUses)}
	if *expires != "" {
		t, err := time.Parse(time.RFC3339, *expires)
		if err != nil {
			d, derr := time.ParseDuration(*expires)
			if derr != nil || d <= 0 {
				return usagef("--expires %q: want a positive duration (720h) or an RFC 3339 time", *expires)
			}
			t = time.Now().Add(d)
		}
		req.ExpireTime = timestamppb.New(t)
	}
	res, err := provKeysClient(api).CreateProvisioningKey(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if api.cfg.Output == "json" {
		return api.print(res.Msg, nil, nil)
	}
	fmt.Fprintf(e.stderr, "provisioning key %s for account %s (the secret below is shown once; devices send it as Uplink.provisioning_key):\n",
		res.Msg.GetKey().GetId(), *acc)
	_, err = fmt.Fprintln(e.stdout, res.Msg.GetSecret())
	return err
}

func provKeysList(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("provisioning-keys list", e)
	acc := c.fs.String("account", "", "account id (required with the admin token)")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	res, err := provKeysClient(api).ListProvisioningKeys(ctx, connect.NewRequest(&lpv1.ListProvisioningKeysRequest{AccountId: *acc}))
	if err != nil {
		return err
	}
	rows := [][]string{}
	for _, k := range res.Msg.GetKeys() {
		rows = append(rows, provKeyRow(k))
	}
	return api.print(res.Msg, provKeyHeader, rows)
}

func provKeysRevoke(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("provisioning-keys revoke", e)
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if err := needArgs(c.fs, 1, "KEY_ID"); err != nil {
		return err
	}
	res, err := provKeysClient(api).RevokeProvisioningKey(ctx, connect.NewRequest(&lpv1.RevokeProvisioningKeyRequest{Id: c.fs.Arg(0)}))
	if err != nil {
		return err
	}
	return api.print(res.Msg, provKeyHeader, [][]string{provKeyRow(res.Msg.GetKey())})
}
