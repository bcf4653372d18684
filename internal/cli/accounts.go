package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

func runAccounts(ctx context.Context, e *env, args []string) error {
	verbs := map[string]func(context.Context, *env, []string) error{
		"create": accountsCreate, "get": accountsGet, "list": accountsList,
		"update": accountsUpdate, "delete": accountsDelete,
	}
	if len(args) == 0 || verbs[args[0]] == nil {
		return usagef("usage: liveplane accounts create|get|list|update|delete [flags]")
	}
	return verbs[args[0]](ctx, e, args[1:])
}

var accountHeader = []string{"ID", "NAME", "STATE", "GEN", "DISPLAY NAME", "CREATED"}

func accountRow(a *lpv1.Account) []string {
	return []string{a.GetId(), a.GetName(), strings.TrimPrefix(a.GetState().String(), "ACCOUNT_STATE_"),
		strconv.FormatInt(a.GetGeneration(), 10), a.GetDisplayName(), stamp(a.GetCreateTime())}
}

func stamp(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().Format(time.RFC3339)
}

func accountsCreate(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("accounts create", e)
	name := c.fs.String("name", "", "account name: a DNS label, e.g. acme (required)")
	display := c.fs.String("display-name", "", "human-readable name")
	withKey := c.fs.Bool("with-key", false, "also create an API key and print its secret once")
	wait := c.fs.Duration("wait", 0, "wait up to this `long` for READY, printing each cluster's progress (0: do not wait)")
	q := quotaFlags(c)
	group := c.fs.String("group", "", "Kubernetes `group` bound to the daemons' ClusterRole (default edit) in the account's namespace")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if *name == "" {
		return usagef("--name is required")
	}
	res, err := api.accounts.CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{
		Name: *name, DisplayName: *display, CreateApiKey: *withKey, Quota: q, Group: *group,
	}))
	if err != nil {
		return err
	}
	if err := api.print(res.Msg, accountHeader, [][]string{accountRow(res.Msg.GetAccount())}); err != nil {
		return err
	}
	if *wait > 0 {
		if err := waitReady(ctx, api, e, res.Msg.GetAccount().GetId(), *wait); err != nil {
			return err
		}
	}
	if s := res.Msg.GetApiKeySecret(); s != "" && api.cfg.Output != "json" {
		fmt.Fprintf(e.stderr, "API key %s (shown once): %s\n", res.Msg.GetApiKey().GetId(), s)
	}
	return nil
}

func accountsGet(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("accounts get", e)
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if err := needArgs(c.fs, 1, "ACCOUNT_ID"); err != nil {
		return err
	}
	res, err := api.accounts.GetAccount(ctx, connect.NewRequest(&lpv1.GetAccountRequest{Id: c.fs.Arg(0)}))
	if err != nil {
		return err
	}
	if err := api.print(res.Msg, accountHeader, [][]string{accountRow(res.Msg.GetAccount())}); err != nil {
		return err
	}
	return printClusterStatus(api, res.Msg.GetAccount())
}

func accountsList(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("accounts list", e)
	pageSize := c.fs.Int("page-size", 100, "accounts per request")
	limit := c.fs.Int("limit", 0, "stop after this many accounts (0: all)")
	deleted := c.fs.Bool("include-deleted", false, "also list DELETED accounts (tombstones kept after deletion)")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	all := &lpv1.ListAccountsResponse{}
	token := ""
	for {
		res, err := api.accounts.ListAccounts(ctx, connect.NewRequest(&lpv1.ListAccountsRequest{
			PageSize: int32(*pageSize), PageToken: token, IncludeDeleted: *deleted,
		}))
		if err != nil {
			return err
		}
		all.Accounts = append(all.Accounts, res.Msg.GetAccounts()...)
		token = res.Msg.GetNextPageToken()
		if *limit > 0 && len(all.Accounts) >= *limit {
			all.Accounts = all.Accounts[:*limit]
			all.NextPageToken = token
			break
		}
		if token == "" {
			break
		}
	}
	rows := make([][]string, 0, len(all.Accounts))
	for _, a := range all.Accounts {
		rows = append(rows, accountRow(a))
	}
	return api.print(all, accountHeader, rows)
}

func accountsUpdate(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("accounts update", e)
	display := c.fs.String("display-name", "", "new display name")
	gen := c.fs.Int64("expected-generation", 0, "apply only if the account is at this generation")
	q := quotaFlags(c)
	group := c.fs.String("group", "", "new Kubernetes `group` (\"\" removes the RoleBinding)")
	noQuota := c.fs.Bool("no-quota", false, "remove the ResourceQuota")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if err := needArgs(c.fs, 1, "ACCOUNT_ID"); err != nil {
		return err
	}
	req := &lpv1.UpdateAccountRequest{Id: c.fs.Arg(0), ExpectedGeneration: *gen}
	c.fs.Visit(func(f *flagT) {
		switch f.Name {
		case "display-name":
			req.DisplayName = display
		case "group":
			req.Group = group
		case "quota-cpu", "quota-memory", "quota-pods":
			req.Quota = q
		case "no-quota":
			if *noQuota {
				req.Quota = &lpv1.ResourceQuota{}
			}
		}
	})
	if req.DisplayName == nil && req.Group == nil && req.Quota == nil {
		return usagef("nothing to update: set --display-name, --group, --quota-* or --no-quota")
	}
	if *noQuota && (q.Cpu != "" || q.Memory != "" || q.Pods != 0) {
		return usagef("--no-quota and --quota-* exclude each other")
	}
	res, err := api.accounts.UpdateAccount(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	return api.print(res.Msg, accountHeader, [][]string{accountRow(res.Msg.GetAccount())})
}

// quotaFlags registers --quota-cpu, --quota-memory and --quota-pods; the
// returned message is filled in when the flags are parsed. On update, the
// quota given replaces the whole quota.
func quotaFlags(c *clientCommand) *lpv1.ResourceQuota {
	q := &lpv1.ResourceQuota{}
	c.fs.StringVar(&q.Cpu, "quota-cpu", "", "ResourceQuota cpu `quantity` in every cluster (such as 2 or 500m)")
	c.fs.StringVar(&q.Memory, "quota-memory", "", "ResourceQuota memory `quantity` (such as 4Gi)")
	c.fs.Int64Var(&q.Pods, "quota-pods", 0, "ResourceQuota pod `count`")
	return q
}

func accountsDelete(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("accounts delete", e)
	gen := c.fs.Int64("expected-generation", 0, "delete only if the account is at this generation")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if err := needArgs(c.fs, 1, "ACCOUNT_ID"); err != nil {
		return err
	}
	res, err := api.accounts.DeleteAccount(ctx, connect.NewRequest(&lpv1.DeleteAccountRequest{Id: c.fs.Arg(0), ExpectedGeneration: *gen}))
	if err != nil {
		return err
	}
	return api.print(res.Msg, accountHeader, [][]string{accountRow(res.Msg.GetAccount())})
}
