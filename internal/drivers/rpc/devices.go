package rpc

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/eventcodec"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// Devices serves liveplane.v1.DeviceService.
type Devices struct {
	svc *device.Service
	log *slog.Logger
}

var _ liveplanev1connect.DeviceServiceHandler = (*Devices)(nil)

// MountDevices registers the device service on mux behind token
// authentication (auth resolves the same tokens as the account service).
func MountDevices(mux *http.ServeMux, svc *device.Service, auth Authenticator, log *slog.Logger) {
	d := &Devices{svc: svc, log: log}
	path, h := liveplanev1connect.NewDeviceServiceHandler(d,
		connect.WithInterceptors(authInterceptor{auth: auth, log: log}),
		connect.WithReadMaxBytes(MaxRequestBytes),
	)
	mux.Handle(path, h)
}

func (d *Devices) fail(req connect.AnyRequest, err error) error {
	return toConnect(d.log, req.Spec().Procedure, err)
}

func (d *Devices) CreateDevice(ctx context.Context, req *connect.Request[lpv1.CreateDeviceRequest]) (*connect.Response[lpv1.CreateDeviceResponse], error) {
	c, err := d.svc.Create(ctx, req.Msg.GetAccountId(), req.Msg.GetName())
	if err != nil {
		return nil, d.fail(req, err)
	}
	return connect.NewResponse(&lpv1.CreateDeviceResponse{Device: eventcodec.DeviceToProto(c.Device), Key: c.Key, Psk: c.PSK}), nil
}

func (d *Devices) GetDevice(ctx context.Context, req *connect.Request[lpv1.GetDeviceRequest]) (*connect.Response[lpv1.GetDeviceResponse], error) {
	dev, err := d.svc.Get(ctx, req.Msg.GetId())
	if err != nil {
		return nil, d.fail(req, err)
	}
	return connect.NewResponse(&lpv1.GetDeviceResponse{Device: eventcodec.DeviceToProto(dev)}), nil
}

func (d *Devices) ListDevices(ctx context.Context, req *connect.Request[lpv1.ListDevicesRequest]) (*connect.Response[lpv1.ListDevicesResponse], error) {
	m := req.Msg
	list, next, err := d.svc.List(ctx, m.GetAccountId(), int(m.GetPageSize()), m.GetPageToken())
	if err != nil {
		return nil, d.fail(req, err)
	}
	out := &lpv1.ListDevicesResponse{NextPageToken: next}
	for _, dev := range list {
		out.Devices = append(out.Devices, eventcodec.DeviceToProto(dev))
	}
	return connect.NewResponse(out), nil
}

func (d *Devices) DisableDevice(ctx context.Context, req *connect.Request[lpv1.DisableDeviceRequest]) (*connect.Response[lpv1.DisableDeviceResponse], error) {
	dev, err := d.svc.Disable(ctx, req.Msg.GetId())
	if err != nil {
		return nil, d.fail(req, err)
	}
	return connect.NewResponse(&lpv1.DisableDeviceResponse{Device: eventcodec.DeviceToProto(dev)}), nil
}

func (d *Devices) DeleteDevice(ctx context.Context, req *connect.Request[lpv1.DeleteDeviceRequest]) (*connect.Response[lpv1.DeleteDeviceResponse], error) {
	if err := d.svc.Delete(ctx, req.Msg.GetId()); err != nil {
		return nil, d.fail(req, err)
	}
	return connect.NewResponse(&lpv1.DeleteDeviceResponse{}), nil
}

func (d *Devices) GetReportedConfig(ctx context.Context, req *connect.Request[lpv1.GetReportedConfigRequest]) (*connect.Response[lpv1.GetReportedConfigResponse], error) {
	r, err := d.svc.Reported(ctx, req.Msg.GetDeviceId())
	if err != nil {
		return nil, d.fail(req, err)
	}
	out := &lpv1.GetReportedConfigResponse{
		Config: r.Config, BootCount: r.BootCount, UplinkCount: r.UplinkCount,
		FirmwareVersion: r.Firmware, HardwareVersion: r.Hardware, ConfigAck: ackToProto(r.Ack),
	}
	if !r.ReportedAt.IsZero() {
		out.ReportTime = timestamppb.New(r.ReportedAt)
	}
	return connect.NewResponse(out), nil
}

func (d *Devices) ListActivity(ctx context.Context, req *connect.Request[lpv1.ListActivityRequest]) (*connect.Response[lpv1.ListActivityResponse], error) {
	m := req.Msg
	list, next, err := d.svc.Activity(ctx, m.GetDeviceId(), rangeOf(m.GetRange(), m.GetPageSize(), m.GetPageToken()))
	if err != nil {
		return nil, d.fail(req, err)
	}
	out := &lpv1.ListActivityResponse{NextPageToken: next}
	for _, r := range list {
		a := r.Activity
		out.Records = append(out.Records, &lpv1.ActivityRecord{
			ReceiveTime: timestamppb.New(r.ReceivedAt), BootCount: r.BootCount, UplinkCount: r.UplinkCount,
			RebootReason: rebootToProto[r.RebootReason], DeviceTimeUnixMs: r.DeviceTimeMs,
			Activity: &lpv1.Activity{SleepSeconds: a.Sleep, ModemSeconds: a.Modem, GnssSeconds: a.GNSS, WifiSeconds: a.WiFi, OtherSeconds: a.Other},
		})
	}
	return connect.NewResponse(out), nil
}

func (d *Devices) ListSensorData(ctx context.Context, req *connect.Request[lpv1.ListSensorDataRequest]) (*connect.Response[lpv1.ListSensorDataResponse], error) {
	m := req.Msg
	list, next, err := d.svc.SensorData(ctx, m.GetDeviceId(), rangeOf(m.GetRange(), m.GetPageSize(), m.GetPageToken()))
	if err != nil {
		return nil, d.fail(req, err)
	}
	out := &lpv1.ListSensorDataResponse{NextPageToken: next}
	for _, r := range list {
		p := &lpv1.SensorReading{ReceiveTime: timestamppb.New(r.ReceivedAt), BootCount: r.BootCount, UplinkCount: r.UplinkCount, Index: r.Index}
		if r.Wifi != nil {
			p.Value = &lpv1.SensorReading_WifiScan{WifiScan: &lpv1.WifiScan{Bssid: r.Wifi.BSSID[:], RssiDbm: r.Wifi.RSSIdBm}}
		} else {
			p.Value = &lpv1.SensorReading_TemperatureCentiCelsius{TemperatureCentiCelsius: r.CentiCelsius}
		}
		out.Readings = append(out.Readings, p)
	}
	return connect.NewResponse(out), nil
}

func rangeOf(r *lpv1.TimeRange, pageSize int32, token string) device.Range {
	out := device.Range{PageSize: int(pageSize), PageToken: token}
	if r.GetSince() != nil {
		out.Since = r.GetSince().AsTime()
	}
	if r.GetUntil() != nil {
		out.Until = r.GetUntil().AsTime()
	}
	return out
}

var rebootToProto = map[device.RebootReason]lpv1.RebootReason{
	device.RebootPowerOn: lpv1.RebootReason_REBOOT_REASON_POWER_ON, device.RebootWatchdog: lpv1.RebootReason_REBOOT_REASON_WATCHDOG,
	device.RebootBrownout: lpv1.RebootReason_REBOOT_REASON_BROWNOUT, device.RebootSoftware: lpv1.RebootReason_REBOOT_REASON_SOFTWARE,
	device.RebootFault: lpv1.RebootReason_REBOOT_REASON_FAULT, device.RebootOther: lpv1.RebootReason_REBOOT_REASON_OTHER,
}

var statusToProto = map[device.KeyStatus]lpv1.ConfigKeyStatus{
	device.KeyApplied: lpv1.ConfigKeyStatus_CONFIG_KEY_STATUS_APPLIED, device.KeyRejected: lpv1.ConfigKeyStatus_CONFIG_KEY_STATUS_REJECTED,
	device.KeyUnknown: lpv1.ConfigKeyStatus_CONFIG_KEY_STATUS_UNKNOWN_KEY,
}

func ackToProto(a device.ConfigAck) *lpv1.ConfigAck {
	if a.AppliedVersion == 0 && len(a.Results) == 0 {
		return nil
	}
	out := &lpv1.ConfigAck{AppliedVersion: a.AppliedVersion}
	for _, r := range a.Results {
		out.Results = append(out.Results, &lpv1.ConfigKeyResult{Key: r.Key, Status: statusToProto[r.Status], Reason: r.Reason})
	}
	return out
}
