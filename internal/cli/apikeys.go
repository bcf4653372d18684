package cli

import (
	"context"
	"flag"
	"fmt"

	"connectrpc.com/connect"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

type flagT = flag.Flag

func runAPIKeys(ctx context.Context, e *env, args []string) error {
	verbs := map[string]func(context.Context, *env, []string) error{
		"create": apikeysCreate, "list": apikeysList, "revoke": apikeysRevoke,
	}
	if len(args) == 0 || verbs[args[0]] == nil {
		return usagef("usage: liveplane apikeys create|list|revoke [flags]")
	}
	return verbs[args[0]](ctx, e, args[1:])
}

var keyHeader = []string{"ID", "ACCOUNT", "DESCRIPTION", "CREATED", "REVOKED"}

func keyRow(k *lpv1.ApiKey) []string {
	return []string{k.GetId(), k.GetAccountId(), k.GetDescription(), stamp(k.GetCreateTime()), stamp(k.GetRevokeTime())}
}

func apikeysCreate(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("apikeys create", e)
	acc := c.fs.String("account", "", "account id (required)")
	desc := c.fs.String("description", "", "what the key is for")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if *acc == "" {
		return usagef("--account is required")
	}
	res, err := api.accounts.CreateApiKey(ctx, connect.NewRequest(&lpv1.CreateApiKeyRequest{AccountId: *acc, Description: *desc}))
	if err != nil {
		return err
	}
	if api.cfg.Output == "json" {
		return api.print(res.Msg, nil, nil)
	}
	// The secret goes to stdout alone so scripts can capture it.
	fmt.Fprintf(e.stderr, "API key %s for account %s (the secret below is shown once):\n", res.Msg.GetKey().GetId(), *acc)
	_, err = fmt.Fprintln(e.stdout, res.Msg.GetSecret())
	return err
}

func apikeysList(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("apikeys list", e)
	acc := c.fs.String("account", "", "account id (required)")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if *acc == "" {
		return usagef("--account is required")
	}
	res, err := api.accounts.ListApiKeys(ctx, connect.NewRequest(&lpv1.ListApiKeysRequest{AccountId: *acc}))
	if err != nil {
		return err
	}
	rows := [][]string{}
	for _, k := range res.Msg.GetKeys() {
		rows = append(rows, keyRow(k))
	}
	return api.print(res.Msg, keyHeader, rows)
}

func apikeysRevoke(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("apikeys revoke", e)
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if err := needArgs(c.fs, 1, "KEY_ID"); err != nil {
		return err
	}
	res, err := api.accounts.RevokeApiKey(ctx, connect.NewRequest(&lpv1.RevokeApiKeyRequest{Id: c.fs.Arg(0)}))
	if err != nil {
		return err
	}
	return api.print(res.Msg, keyHeader, [][]string{keyRow(res.Msg.GetKey())})
}
