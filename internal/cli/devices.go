package cli

import (
	"context"
	"fmt"
	"strconv"

	"connectrpc.com/connect"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

func runDevices(ctx context.Context, e *env, args []string) error {
	verbs := map[string]func(context.Context, *env, []string) error{
		"create": devicesCreate, "list": devicesList, "show": devicesShow,
		"disable": devicesDisable, "delete": devicesDelete,
	}
	if len(args) == 0 || verbs[args[0]] == nil {
		return usagef("usage: liveplane devices create|list|show|disable|delete [flags]")
	}
	return verbs[args[0]](ctx, e, args[1:])
}

var deviceHeader = []string{"ID", "NAME", "ACCOUNT", "DISABLED", "GEN", "CREATED"}

func deviceRow(d *lpv1.Device) []string {
	return []string{d.GetId(), d.GetName(), d.GetAccountId(), strconv.FormatBool(d.GetDisabled()),
		strconv.FormatInt(d.GetGeneration(), 10), stamp(d.GetCreateTime())}
}

func devicesCreate(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("devices create", e)
	acc := c.fs.String("account", "", "account id (required)")
	name := c.fs.String("name", "", "device name, unique in the account (required)")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if *acc == "" || *name == "" {
		return usagef("--account and --name are required")
	}
	res, err := api.devices.CreateDevice(ctx, connect.NewRequest(&lpv1.CreateDeviceRequest{AccountId: *acc, Name: *name}))
	if err != nil {
		return err
	}
	if err := api.print(res.Msg, deviceHeader, [][]string{deviceRow(res.Msg.GetDevice())}); err != nil {
		return err
	}
	if api.cfg.Output != "json" {
		fmt.Fprintf(e.stderr, "device key (shown once; the uplink credential on plain UDP): %s\n", res.Msg.GetKey())
		fmt.Fprintf(e.stderr, "DTLS PSK (shown once; identity = the device id): %s\n", res.Msg.GetPsk())
	}
	return nil
}

func devicesList(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("devices list", e)
	acc := c.fs.String("account", "", "account id (required with the admin token)")
	pageSize := c.fs.Int("page-size", 100, "devices per request")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	all := &lpv1.ListDevicesResponse{}
	token := ""
	for {
		res, err := api.devices.ListDevices(ctx, connect.NewRequest(&lpv1.ListDevicesRequest{
			AccountId: *acc, PageSize: int32(*pageSize), PageToken: token,
		}))
		if err != nil {
			return err
		}
		all.Devices = append(all.Devices, res.Msg.GetDevices()...)
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	rows := make([][]string, 0, len(all.Devices))
	for _, d := range all.Devices {
		rows = append(rows, deviceRow(d))
	}
	return api.print(all, deviceHeader, rows)
}

// devicesShow prints the device and its latest reported state.
func devicesShow(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("devices show", e)
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if err := needArgs(c.fs, 1, "DEVICE_ID"); err != nil {
		return err
	}
	res, err := api.devices.GetDevice(ctx, connect.NewRequest(&lpv1.GetDeviceRequest{Id: c.fs.Arg(0)}))
	if err != nil {
		return err
	}
	rep, err := api.devices.GetReportedConfig(ctx, connect.NewRequest(&lpv1.GetReportedConfigRequest{DeviceId: c.fs.Arg(0)}))
	if err != nil {
		return err
	}
	if api.cfg.Output == "json" {
		if err := api.print(res.Msg, nil, nil); err != nil {
			return err
		}
		return api.print(rep.Msg, nil, nil)
	}
	if err := api.print(res.Msg, deviceHeader, [][]string{deviceRow(res.Msg.GetDevice())}); err != nil {
		return err
	}
	r := rep.Msg
	fmt.Fprintf(api.out, "\nlast report: %s  boot %d  uplink %d  firmware %q  hardware %q\n",
		stamp(r.GetReportTime()), r.GetBootCount(), r.GetUplinkCount(), r.GetFirmwareVersion(), r.GetHardwareVersion())
	rows := [][]string{}
	for _, k := range sortedKeys(r.GetConfig()) {
		rows = append(rows, []string{k, r.GetConfig()[k]})
	}
	return api.print(r, []string{"KEY", "VALUE"}, rows)
}

func devicesDisable(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("devices disable", e)
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if err := needArgs(c.fs, 1, "DEVICE_ID"); err != nil {
		return err
	}
	res, err := api.devices.DisableDevice(ctx, connect.NewRequest(&lpv1.DisableDeviceRequest{Id: c.fs.Arg(0)}))
	if err != nil {
		return err
	}
	return api.print(res.Msg, deviceHeader, [][]string{deviceRow(res.Msg.GetDevice())})
}

func devicesDelete(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("devices delete", e)
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if err := needArgs(c.fs, 1, "DEVICE_ID"); err != nil {
		return err
	}
	if _, err := api.devices.DeleteDevice(ctx, connect.NewRequest(&lpv1.DeleteDeviceRequest{Id: c.fs.Arg(0)})); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "deleted device %s\n", c.fs.Arg(0))
	return nil
}
