package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// `liveplane config get|set|unset|history`: a device's desired
// configuration with --device, the account's defaults with --account.
func runConfig(ctx context.Context, e *env, args []string) error {
	verbs := map[string]func(context.Context, *env, []string) error{
		"get": configGet, "set": configSet, "unset": configUnset, "history": configHistory,
	}
	if len(args) == 0 || verbs[args[0]] == nil {
		return usagef("usage: liveplane config get|set|unset|history --device ID | --account ID [flags]")
	}
	return verbs[args[0]](ctx, e, args[1:])
}

type configCommand struct {
	*clientCommand
	device, account *string
	expected        *int64
}

func newConfigCommand(name string, e *env, writes bool) *configCommand {
	c := &configCommand{clientCommand: newClientCommand(name, e)}
	c.device = c.fs.String("device", "", "device id: its desired configuration")
	c.account = c.fs.String("account", "", "account id: the account's defaults (instead of --device)")
	if writes {
		c.expected = c.fs.Int64("expected-version", -1, "apply only if the document is at this version (else exit 5)")
	}
	return c
}

func (c *configCommand) parse(e *env, args []string) (*apiClient, liveplanev1connect.ConfigServiceClient, error) {
	api, err := c.clientCommand.parse(e, args)
	if err != nil {
		return nil, nil, err
	}
	if (*c.device == "") == (*c.account == "") {
		return nil, nil, usagef("give exactly one of --device or --account")
	}
	return api, liveplanev1connect.NewConfigServiceClient(api.http, api.base, api.auth), nil
}

func (c *configCommand) expectedVersion() *uint64 {
	if c.expected == nil || *c.expected < 0 {
		return nil
	}
	v := uint64(*c.expected)
	return &v
}

func configGet(ctx context.Context, e *env, args []string) error {
	c := newConfigCommand("config get", e, false)
	api, cs, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if *c.account != "" {
		res, err := cs.GetConfigDefaults(ctx, connect.NewRequest(&lpv1.GetConfigDefaultsRequest{AccountId: *c.account}))
		if err != nil {
			return err
		}
		return printDefaults(api, res.Msg, res.Msg.GetDefaults())
	}
	res, err := cs.GetConfig(ctx, connect.NewRequest(&lpv1.GetConfigRequest{DeviceId: *c.device}))
	if err != nil {
		return err
	}
	return printConfig(api, res.Msg, res.Msg.GetConfig())
}

func printDefaults(api *apiClient, msg protoMessage, d *lpv1.ConfigDefaults) error {
	if api.cfg.Output == "json" {
		return api.print(msg, nil, nil)
	}
	fmt.Fprintf(api.out, "account %s defaults, version %d\n", d.GetAccountId(), d.GetVersion())
	rows := [][]string{}
	for _, k := range slices.Sorted(maps.Keys(d.GetValues())) {
		v := d.GetValues()[k]
		rows = append(rows, []string{k, v.GetValue(), stamp(v.GetUpdateTime())})
	}
	return api.print(nil, []string{"KEY", "VALUE", "UPDATED"}, rows)
}

func printConfig(api *apiClient, msg protoMessage, c *lpv1.DeviceConfig) error {
	if api.cfg.Output == "json" {
		return api.print(msg, nil, nil)
	}
	state := strings.ToLower(strings.TrimPrefix(c.GetSyncState().String(), "CONFIG_SYNC_STATE_"))
	fmt.Fprintf(api.out, "device %s: %s; version %d (defaults %d, effective %d), acked %d, %d uplinks without ack (stuck after %d)\n",
		c.GetDeviceId(), state, c.GetVersion(), c.GetDefaultsVersion(), c.GetEffectiveVersion(), c.GetAckedVersion(),
		c.GetUplinksWithoutAck(), c.GetStuckAfter())
	for _, r := range c.GetRejected() {
		fmt.Fprintf(api.out, "rejected %s: %s\n", r.GetKey(), r.GetReason())
	}
	for _, r := range c.GetInvalidReported() {
		fmt.Fprintf(api.out, "invalid report of %s: %s\n", r.GetKey(), r.GetReason())
	}
	keys := map[string]bool{}
	for k := range c.GetEffective() {
		keys[k] = true
	}
	for k := range c.GetReported() {
		keys[k] = true
	}
	rows := [][]string{}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		eff, ok := c.GetEffective()[k]
		source := "-"
		switch {
		case c.GetDesired()[k] != nil:
			source = "device"
		case ok:
			source = "default"
		}
		if !ok {
			eff = "-"
		}
		rep := "-"
		if r := c.GetReported()[k]; r != nil {
			rep = r.GetValue()
		}
		_, pending := c.GetDelta()[k]
		rows = append(rows, []string{k, eff, source, rep, strconv.FormatBool(!pending)})
	}
	return api.print(nil, []string{"KEY", "DESIRED", "FROM", "REPORTED", "IN_SYNC"}, rows)
}

func configSet(ctx context.Context, e *env, args []string) error {
	c := newConfigCommand("config set", e, true)
	raw := c.fs.String("patch", "", "a JSON merge patch instead of KEY=VALUE arguments (null deletes)")
	api, cs, err := c.parse(e, args)
	if err != nil {
		return err
	}
	patch := *raw
	if patch == "" {
		if c.fs.NArg() == 0 {
			return usagef("give KEY=VALUE arguments or --patch JSON")
		}
		m := map[string]string{}
		for _, a := range c.fs.Args() {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				return usagef("%q: want KEY=VALUE", a)
			}
			m[k] = v
		}
		b, _ := json.Marshal(m)
		patch = string(b)
	} else if c.fs.NArg() > 0 {
		return usagef("give KEY=VALUE arguments or --patch, not both")
	}
	return applyPatch(ctx, api, cs, c, patch)
}

func configUnset(ctx context.Context, e *env, args []string) error {
	c := newConfigCommand("config unset", e, true)
	api, cs, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if c.fs.NArg() == 0 {
		return usagef("give the KEYs to delete")
	}
	m := map[string]any{}
	for _, k := range c.fs.Args() {
		m[k] = nil
	}
	b, _ := json.Marshal(m)
	return applyPatch(ctx, api, cs, c, string(b))
}

func applyPatch(ctx context.Context, api *apiClient, cs liveplanev1connect.ConfigServiceClient, c *configCommand, patch string) error {
	if *c.account != "" {
		res, err := cs.PatchConfigDefaults(ctx, connect.NewRequest(&lpv1.PatchConfigDefaultsRequest{
			AccountId: *c.account, MergePatch: patch, ExpectedVersion: c.expectedVersion(),
		}))
		if err != nil {
			return err
		}
		return printDefaults(api, res.Msg, res.Msg.GetDefaults())
	}
	res, err := cs.PatchConfig(ctx, connect.NewRequest(&lpv1.PatchConfigRequest{
		DeviceId: *c.device, MergePatch: patch, ExpectedVersion: c.expectedVersion(),
	}))
	if err != nil {
		return err
	}
	return printConfig(api, res.Msg, res.Msg.GetConfig())
}

func configHistory(ctx context.Context, e *env, args []string) error {
	c := newConfigCommand("config history", e, false)
	limit := c.fs.Int("limit", 100, "at most this many changes, newest first")
	api, cs, err := c.parse(e, args)
	if err != nil {
		return err
	}
	all := &lpv1.ListConfigHistoryResponse{}
	token := ""
	for len(all.Changes) < *limit {
		res, err := cs.ListConfigHistory(ctx, connect.NewRequest(&lpv1.ListConfigHistoryRequest{
			DeviceId: *c.device, AccountId: *c.account, PageSize: int32(min(*limit-len(all.Changes), 500)), PageToken: token,
		}))
		if err != nil {
			return err
		}
		all.Changes = append(all.Changes, res.Msg.GetChanges()...)
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	opt := func(s *string) string {
		if s == nil {
			return "-"
		}
		return strconv.Quote(*s)
	}
	rows := [][]string{}
	for _, ch := range all.Changes {
		rows = append(rows, []string{stamp(ch.GetChangeTime()), ch.GetActor(), ch.GetKey(), opt(ch.OldValue), opt(ch.NewValue),
			strconv.FormatUint(ch.GetVersion(), 10), stamp(ch.GetAckTime())})
	}
	return api.print(all, []string{"WHEN", "WHO", "KEY", "OLD", "NEW", "VERSION", "ACKED"}, rows)
}
