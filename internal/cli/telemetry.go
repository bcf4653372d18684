package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// runTelemetry prints a device's activity or sensor history in a time range:
// a table, JSON (--output json) or CSV (--csv), following every page.
func runTelemetry(ctx context.Context, e *env, args []string) error {
	c := newClientCommand("telemetry", e)
	dev := c.fs.String("device", "", "device id (required)")
	kind := c.fs.String("kind", "activity", "activity|sensors")
	since := c.fs.String("since", "", "start of the range: RFC 3339 time or a duration ago (24h); default: the beginning")
	until := c.fs.String("until", "", "end of the range (exclusive), same forms; default: now")
	asCSV := c.fs.Bool("csv", false, "print CSV instead of a table")
	limit := c.fs.Int("limit", 0, "stop after this many rows (0: all)")
	api, err := c.parse(e, args)
	if err != nil {
		return err
	}
	if *dev == "" {
		return usagef("--device is required")
	}
	if *kind != "activity" && *kind != "sensors" {
		return usagef("--kind must be activity or sensors")
	}
	rng := &lpv1.TimeRange{}
	if rng.Since, err = timeArg("since", *since); err != nil {
		return err
	}
	if rng.Until, err = timeArg("until", *until); err != nil {
		return err
	}
	header, rows, msg, err := fetchTelemetry(ctx, api, *dev, *kind, rng, *limit)
	if err != nil {
		return err
	}
	if *asCSV {
		w := csv.NewWriter(api.out)
		w.Write(header)
		w.WriteAll(rows)
		return w.Error()
	}
	return api.print(msg, header, rows)
}

func timeArg(name, v string) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return timestamppb.New(time.Now().Add(-d)), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, usagef("--%s %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (24h)", name, v)
	}
	return timestamppb.New(t), nil
}

func fetchTelemetry(ctx context.Context, api *apiClient, dev, kind string, rng *lpv1.TimeRange, limit int) ([]string, [][]string, proto.Message, error) {
	token := ""
	if kind == "activity" {
		all := &lpv1.ListActivityResponse{}
		for {
			res, err := api.devices.ListActivity(ctx, connect.NewRequest(&lpv1.ListActivityRequest{DeviceId: dev, Range: rng, PageSize: 1000, PageToken: token}))
			if err != nil {
				return nil, nil, nil, err
			}
			all.Records = append(all.Records, res.Msg.GetRecords()...)
			if token = res.Msg.GetNextPageToken(); token == "" || limit > 0 && len(all.Records) >= limit {
				break
			}
		}
		if limit > 0 && len(all.Records) > limit {
			all.Records = all.Records[:limit]
		}
		var rows [][]string
		for _, r := range all.Records {
			a := r.GetActivity()
			rows = append(rows, []string{stamp(r.GetReceiveTime()), u32(r.GetBootCount()), u32(r.GetUplinkCount()),
				r.GetRebootReason().String(), u32(a.GetSleepSeconds()), u32(a.GetModemSeconds()), u32(a.GetGnssSeconds()),
				u32(a.GetWifiSeconds()), u32(a.GetOtherSeconds())})
		}
		return []string{"RECEIVED", "BOOT", "UPLINK", "REBOOT REASON", "SLEEP S", "MODEM S", "GNSS S", "WIFI S", "OTHER S"}, rows, all, nil
	}
	all := &lpv1.ListSensorDataResponse{}
	for {
		res, err := api.devices.ListSensorData(ctx, connect.NewRequest(&lpv1.ListSensorDataRequest{DeviceId: dev, Range: rng, PageSize: 1000, PageToken: token}))
		if err != nil {
			return nil, nil, nil, err
		}
		all.Readings = append(all.Readings, res.Msg.GetReadings()...)
		if token = res.Msg.GetNextPageToken(); token == "" || limit > 0 && len(all.Readings) >= limit {
			break
		}
	}
	if limit > 0 && len(all.Readings) > limit {
		all.Readings = all.Readings[:limit]
	}
	var rows [][]string
	for _, r := range all.Readings {
		kind, value, bssid := "temperature_c", "", ""
		if w := r.GetWifiScan(); w != nil {
			kind, value, bssid = "wifi_rssi_dbm", strconv.Itoa(int(w.GetRssiDbm())), net.HardwareAddr(w.GetBssid()).String()
		} else {
			value = fmt.Sprintf("%.2f", float64(r.GetTemperatureCentiCelsius())/100)
		}
		rows = append(rows, []string{stamp(r.GetReceiveTime()), u32(r.GetBootCount()), u32(r.GetUplinkCount()), u32(r.GetIndex()), kind, value, bssid})
	}
	return []string{"RECEIVED", "BOOT", "UPLINK", "INDEX", "KIND", "VALUE", "BSSID"}, rows, all, nil
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
