// Package eventcodec translates domain events to and from the protobuf
// envelope (liveplane.v1.Event) that the outbox stores and the bus carries.
// It sits beside the layers: the SQL store encodes with it at commit, event
// consumers decode with it; the domain never sees protobuf.
package eventcodec

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// Encode returns the wire form of ev. It fails for an event type or payload
// the codec does not know, so a mistake shows at commit, not at a consumer.
func Encode(ev domain.Event) ([]byte, error) {
	payload, err := encodePayload(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s (%s): %w", ev.ID, ev.Type, err)
	}
	return proto.Marshal(&lpv1.Event{
		Id: ev.ID, Type: ev.Type, AggregateId: ev.AggregateID,
		AggregateVersion: ev.AggregateVersion, Time: timestamppb.New(ev.Time),
		Payload: payload,
	})
}

// Decode parses the wire form. An unknown type decodes with Data = nil, so a
// consumer can skip events newer than itself; a malformed envelope or
// payload is an error (a poison message).
func Decode(b []byte) (domain.Event, error) {
	var env lpv1.Event
	if err := proto.Unmarshal(b, &env); err != nil {
		return domain.Event{}, fmt.Errorf("decode event envelope: %w", err)
	}
	if env.GetId() == "" || env.GetType() == "" {
		return domain.Event{}, fmt.Errorf("decode event envelope: id and type are required")
	}
	ev := domain.Event{
		ID: env.GetId(), Type: env.GetType(), AggregateID: env.GetAggregateId(),
		AggregateVersion: env.GetAggregateVersion(), Time: env.GetTime().AsTime(),
	}
	data, err := decodePayload(env.GetType(), env.GetPayload())
	if err != nil {
		return domain.Event{}, fmt.Errorf("decode event %s (%s): %w", ev.ID, ev.Type, err)
	}
	ev.Data = data
	return ev, nil
}

func encodePayload(ev domain.Event) ([]byte, error) {
	var m proto.Message
	switch ev.Type {
	case account.EventCreated, account.EventUpdated, account.EventDeleted, account.EventFinalized:
		a, ok := ev.Data.(account.Account)
		if !ok {
			return nil, fmt.Errorf("payload is %T, want account.Account", ev.Data)
		}
		pa := AccountToProto(a)
		switch ev.Type {
		case account.EventCreated:
			m = &lpv1.AccountCreated{Account: pa}
		case account.EventUpdated:
			m = &lpv1.AccountUpdated{Account: pa}
		case account.EventFinalized:
			m = &lpv1.AccountFinalized{Account: pa}
		default:
			m = &lpv1.AccountDeleted{Account: pa}
		}
	case account.EventAPIKeyCreated, account.EventAPIKeyRevoked:
		k, ok := ev.Data.(account.APIKey)
		if !ok {
			return nil, fmt.Errorf("payload is %T, want account.APIKey", ev.Data)
		}
		m = &lpv1.ApiKeyChanged{Key: APIKeyToProto(k)}
	case device.EventCreated, device.EventDisabled, device.EventDeleted:
		var ok bool
		if m, ok = encodeDevicePayload(ev.Data); !ok {
			return nil, fmt.Errorf("payload is %T, want device.Device", ev.Data)
		}
	case device.EventConfigChanged, device.EventDefaultsChanged, device.EventProvKeyCreated, device.EventProvKeyRevoked:
		var ok bool
		if m, ok = encodeConfigPayload(ev.Data); !ok {
			return nil, fmt.Errorf("payload is %T, want device.ConfigChanged or device.ProvisioningKey", ev.Data)
		}
	case provisioning.EventClusterRegistered, provisioning.EventClusterHeartbeat, provisioning.EventStatus:
		var ok bool
		if m, ok = encodeProvisioningPayload(ev.Data); !ok {
			return nil, fmt.Errorf("payload is %T, want a provisioning type", ev.Data)
		}
	default:
		return nil, fmt.Errorf("unknown event type")
	}
	return proto.Marshal(m)
}

func decodePayload(typ string, b []byte) (any, error) {
	switch typ {
	case account.EventCreated:
		var m lpv1.AccountCreated
		err := proto.Unmarshal(b, &m)
		return AccountFromProto(m.GetAccount()), err
	case account.EventUpdated:
		var m lpv1.AccountUpdated
		err := proto.Unmarshal(b, &m)
		return AccountFromProto(m.GetAccount()), err
	case account.EventDeleted:
		var m lpv1.AccountDeleted
		err := proto.Unmarshal(b, &m)
		return AccountFromProto(m.GetAccount()), err
	case account.EventFinalized:
		var m lpv1.AccountFinalized
		err := proto.Unmarshal(b, &m)
		return AccountFromProto(m.GetAccount()), err
	case account.EventAPIKeyCreated, account.EventAPIKeyRevoked:
		var m lpv1.ApiKeyChanged
		err := proto.Unmarshal(b, &m)
		return APIKeyFromProto(m.GetKey()), err
	case device.EventCreated, device.EventDisabled, device.EventDeleted:
		return decodeDevicePayload(b)
	case device.EventConfigChanged, device.EventDefaultsChanged, device.EventProvKeyCreated, device.EventProvKeyRevoked:
		return decodeConfigPayload(typ, b)
	case provisioning.EventClusterRegistered, provisioning.EventClusterHeartbeat, provisioning.EventStatus:
		return decodeProvisioningPayload(typ, b)
	}
	return nil, nil
}

var accountStates = map[account.State]lpv1.AccountState{
	account.StateProvisioning: lpv1.AccountState_ACCOUNT_STATE_PROVISIONING,
	account.StateReady:        lpv1.AccountState_ACCOUNT_STATE_READY,
	account.StateDegraded:     lpv1.AccountState_ACCOUNT_STATE_DEGRADED,
	account.StateDeleting:     lpv1.AccountState_ACCOUNT_STATE_DELETING,
	account.StateDeleted:      lpv1.AccountState_ACCOUNT_STATE_DELETED,
}

// AccountToProto is shared with the RPC driver so the API and the events
// describe an account the same way.
func AccountToProto(a account.Account) *lpv1.Account {
	p := &lpv1.Account{
		Id: a.ID, Name: a.Name, DisplayName: a.DisplayName, State: accountStates[a.State],
		Generation: a.Generation, CreateTime: ts(a.CreatedAt), UpdateTime: ts(a.UpdatedAt), Group: a.Group,
	}
	if !a.Quota.IsZero() {
		p.Quota = QuotaToProto(a.Quota)
	}
	return p
}

func QuotaToProto(q account.Quota) *lpv1.ResourceQuota {
	return &lpv1.ResourceQuota{Cpu: q.CPU, Memory: q.Memory, Pods: q.Pods}
}

func QuotaFromProto(p *lpv1.ResourceQuota) account.Quota {
	return account.Quota{CPU: p.GetCpu(), Memory: p.GetMemory(), Pods: p.GetPods()}
}

func AccountFromProto(p *lpv1.Account) account.Account {
	a := account.Account{
		ID: p.GetId(), Name: p.GetName(), DisplayName: p.GetDisplayName(),
		Generation: p.GetGeneration(), CreatedAt: fromTS(p.GetCreateTime()), UpdatedAt: fromTS(p.GetUpdateTime()),
		Quota: QuotaFromProto(p.GetQuota()), Group: p.GetGroup(),
	}
	for s, ps := range accountStates {
		if ps == p.GetState() {
			a.State = s
		}
	}
	return a
}

func APIKeyToProto(k account.APIKey) *lpv1.ApiKey {
	return &lpv1.ApiKey{
		Id: k.ID, AccountId: k.AccountID, Description: k.Description,
		CreateTime: ts(k.CreatedAt), RevokeTime: ts(k.RevokedAt),
	}
}

func APIKeyFromProto(p *lpv1.ApiKey) account.APIKey {
	return account.APIKey{
		ID: p.GetId(), AccountID: p.GetAccountId(), Description: p.GetDescription(),
		CreatedAt: fromTS(p.GetCreateTime()), RevokedAt: fromTS(p.GetRevokeTime()),
	}
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(p *timestamppb.Timestamp) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.AsTime()
}
