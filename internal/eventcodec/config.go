package eventcodec

import (
	"google.golang.org/protobuf/proto"

	"github.com/liveplane/liveplane/internal/domain/device"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// SyncStates maps the domain's sync states to the API's; shared with the
// RPC driver.
var SyncStates = map[device.SyncState]lpv1.ConfigSyncState{
	device.SyncInSync:   lpv1.ConfigSyncState_CONFIG_SYNC_STATE_IN_SYNC,
	device.SyncPending:  lpv1.ConfigSyncState_CONFIG_SYNC_STATE_PENDING,
	device.SyncRejected: lpv1.ConfigSyncState_CONFIG_SYNC_STATE_REJECTED,
	device.SyncStuck:    lpv1.ConfigSyncState_CONFIG_SYNC_STATE_STUCK,
}

func encodeConfigPayload(data any) (proto.Message, bool) {
	switch d := data.(type) {
	case device.ConfigChanged:
		return &lpv1.ConfigChanged{
			DeviceId: d.DeviceID, AccountId: d.AccountID, Version: d.Version, Values: d.Values,
			SyncState: SyncStates[d.State], EffectiveVersion: d.EffectiveVersion,
		}, true
	case device.ProvisioningKey:
		return &lpv1.ProvisioningKeyChanged{Key: ProvisioningKeyToProto(d)}, true
	}
	return nil, false
}

func decodeConfigPayload(typ string, b []byte) (any, error) {
	switch typ {
	case device.EventProvKeyCreated, device.EventProvKeyRevoked:
		var m lpv1.ProvisioningKeyChanged
		err := proto.Unmarshal(b, &m)
		return ProvisioningKeyFromProto(m.GetKey()), err
	}
	var m lpv1.ConfigChanged
	err := proto.Unmarshal(b, &m)
	c := device.ConfigChanged{
		DeviceID: m.GetDeviceId(), AccountID: m.GetAccountId(), Version: m.GetVersion(), Values: m.GetValues(),
		EffectiveVersion: m.GetEffectiveVersion(),
	}
	for s, p := range SyncStates {
		if p == m.GetSyncState() {
			c.State = s
		}
	}
	return c, err
}

// ProvisioningKeyToProto is shared with the RPC driver; the hash never
// leaves.
func ProvisioningKeyToProto(k device.ProvisioningKey) *lpv1.ProvisioningKey {
	return &lpv1.ProvisioningKey{
		Id: k.ID, AccountId: k.AccountID, Description: k.Description, MaxUses: k.MaxUses, Uses: k.Uses,
		ExpireTime: ts(k.ExpiresAt), CreateTime: ts(k.CreatedAt), RevokeTime: ts(k.RevokedAt),
	}
}

func ProvisioningKeyFromProto(p *lpv1.ProvisioningKey) device.ProvisioningKey {
	return device.ProvisioningKey{
		ID: p.GetId(), AccountID: p.GetAccountId(), Description: p.GetDescription(), MaxUses: p.GetMaxUses(),
		Uses: p.GetUses(), ExpiresAt: fromTS(p.GetExpireTime()), CreatedAt: fromTS(p.GetCreateTime()),
		RevokedAt: fromTS(p.GetRevokeTime()),
	}
}
