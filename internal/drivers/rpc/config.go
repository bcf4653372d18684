package rpc

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/eventcodec"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// Config serves liveplane.v1.ConfigService and ProvisioningKeyService.
type Config struct {
	svc *device.Service
	log *slog.Logger
}

var (
	_ liveplanev1connect.ConfigServiceHandler          = (*Config)(nil)
	_ liveplanev1connect.ProvisioningKeyServiceHandler = (*Config)(nil)
)

// MountConfig registers both services on mux behind token authentication.
func MountConfig(mux *http.ServeMux, svc *device.Service, auth Authenticator, log *slog.Logger) {
	c := &Config{svc: svc, log: log}
	opts := []connect.HandlerOption{
		connect.WithInterceptors(authInterceptor{auth: auth, log: log}),
		connect.WithReadMaxBytes(MaxRequestBytes),
	}
	mux.Handle(liveplanev1connect.NewConfigServiceHandler(c, opts...))
	mux.Handle(liveplanev1connect.NewProvisioningKeyServiceHandler(c, opts...))
}

func (c *Config) fail(req connect.AnyRequest, err error) error {
	return toConnect(c.log, req.Spec().Procedure, err)
}

func valuesToProto(v device.Values) map[string]*lpv1.ConfigValue {
	out := make(map[string]*lpv1.ConfigValue, len(v))
	for k, e := range v {
		out[k] = &lpv1.ConfigValue{Value: e.Value, UpdateTime: ts(e.UpdatedAt)}
	}
	return out
}

func issues(m map[string]string) []*lpv1.ConfigKeyIssue {
	out := make([]*lpv1.ConfigKeyIssue, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, &lpv1.ConfigKeyIssue{Key: k, Reason: m[k]})
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func configToProto(v device.ConfigView) *lpv1.DeviceConfig {
	t := v.Twin
	return &lpv1.DeviceConfig{
		DeviceId: t.DeviceID, AccountId: t.AccountID, Desired: valuesToProto(t.Desired), Version: t.Version,
		Defaults: valuesToProto(v.Defaults.Values), DefaultsVersion: v.Defaults.Version,
		Effective: v.Effective, EffectiveVersion: v.EffectiveVersion, Reported: valuesToProto(t.Reported),
		Delta: v.Delta, SyncState: eventcodec.SyncStates[v.State], AckedVersion: t.AckedVersion,
		Rejected: issues(t.Rejected), InvalidReported: issues(t.Invalid), UplinksWithoutAck: t.Unacked,
		StuckAfter: v.StuckAfter,
	}
}

func defaultsToProto(d device.Defaults) *lpv1.ConfigDefaults {
	return &lpv1.ConfigDefaults{AccountId: d.AccountID, Values: valuesToProto(d.Values), Version: d.Version}
}

func (c *Config) GetConfig(ctx context.Context, req *connect.Request[lpv1.GetConfigRequest]) (*connect.Response[lpv1.GetConfigResponse], error) {
	v, err := c.svc.Config(ctx, req.Msg.GetDeviceId())
	if err != nil {
		return nil, c.fail(req, err)
	}
	return connect.NewResponse(&lpv1.GetConfigResponse{Config: configToProto(v)}), nil
}

func (c *Config) PatchConfig(ctx context.Context, req *connect.Request[lpv1.PatchConfigRequest]) (*connect.Response[lpv1.PatchConfigResponse], error) {
	m := req.Msg
	v, err := c.svc.PatchConfig(ctx, m.GetDeviceId(), []byte(m.GetMergePatch()), m.ExpectedVersion)
	if err != nil {
		return nil, c.fail(req, err)
	}
	return connect.NewResponse(&lpv1.PatchConfigResponse{Config: configToProto(v)}), nil
}

func (c *Config) GetConfigDefaults(ctx context.Context, req *connect.Request[lpv1.GetConfigDefaultsRequest]) (*connect.Response[lpv1.GetConfigDefaultsResponse], error) {
	d, err := c.svc.ConfigDefaults(ctx, req.Msg.GetAccountId())
	if err != nil {
		return nil, c.fail(req, err)
	}
	return connect.NewResponse(&lpv1.GetConfigDefaultsResponse{Defaults: defaultsToProto(d)}), nil
}

func (c *Config) PatchConfigDefaults(ctx context.Context, req *connect.Request[lpv1.PatchConfigDefaultsRequest]) (*connect.Response[lpv1.PatchConfigDefaultsResponse], error) {
	m := req.Msg
	d, err := c.svc.PatchConfigDefaults(ctx, m.GetAccountId(), []byte(m.GetMergePatch()), m.ExpectedVersion)
	if err != nil {
		return nil, c.fail(req, err)
	}
	return connect.NewResponse(&lpv1.PatchConfigDefaultsResponse{Defaults: defaultsToProto(d)}), nil
}

func (c *Config) ListConfigHistory(ctx context.Context, req *connect.Request[lpv1.ListConfigHistoryRequest]) (*connect.Response[lpv1.ListConfigHistoryResponse], error) {
	m := req.Msg
	list, next, err := c.svc.ConfigHistory(ctx, m.GetDeviceId(), m.GetAccountId(), int(m.GetPageSize()), m.GetPageToken())
	if err != nil {
		return nil, c.fail(req, err)
	}
	out := &lpv1.ListConfigHistoryResponse{NextPageToken: next}
	for _, ch := range list {
		out.Changes = append(out.Changes, &lpv1.ConfigChange{
			Id: ch.ID, DeviceId: ch.DeviceID, AccountId: ch.AccountID, Key: ch.Key, OldValue: ch.Old, NewValue: ch.New,
			Version: ch.Version, Actor: ch.Actor, ChangeTime: ts(ch.At), AckTime: ts(ch.AckedAt),
		})
	}
	return connect.NewResponse(out), nil
}

func (c *Config) CreateProvisioningKey(ctx context.Context, req *connect.Request[lpv1.CreateProvisioningKeyRequest]) (*connect.Response[lpv1.CreateProvisioningKeyResponse], error) {
	m := req.Msg
	var expires time.Time
	if m.GetExpireTime() != nil {
		expires = m.GetExpireTime().AsTime()
	}
	k, secret, err := c.svc.CreateProvisioningKey(ctx, m.GetAccountId(), m.GetDescription(), m.GetMaxUses(), expires)
	if err != nil {
		return nil, c.fail(req, err)
	}
	return connect.NewResponse(&lpv1.CreateProvisioningKeyResponse{Key: eventcodec.ProvisioningKeyToProto(k), Secret: secret}), nil
}

func (c *Config) ListProvisioningKeys(ctx context.Context, req *connect.Request[lpv1.ListProvisioningKeysRequest]) (*connect.Response[lpv1.ListProvisioningKeysResponse], error) {
	list, err := c.svc.ProvisioningKeys(ctx, req.Msg.GetAccountId())
	if err != nil {
		return nil, c.fail(req, err)
	}
	out := &lpv1.ListProvisioningKeysResponse{}
	for _, k := range list {
		out.Keys = append(out.Keys, eventcodec.ProvisioningKeyToProto(k))
	}
	return connect.NewResponse(out), nil
}

func (c *Config) RevokeProvisioningKey(ctx context.Context, req *connect.Request[lpv1.RevokeProvisioningKeyRequest]) (*connect.Response[lpv1.RevokeProvisioningKeyResponse], error) {
	k, err := c.svc.RevokeProvisioningKey(ctx, req.Msg.GetId())
	if err != nil {
		return nil, c.fail(req, err)
	}
	return connect.NewResponse(&lpv1.RevokeProvisioningKeyResponse{Key: eventcodec.ProvisioningKeyToProto(k)}), nil
}
