package eventcodec

import (
	"google.golang.org/protobuf/proto"

	"github.com/liveplane/liveplane/internal/domain/device"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

func encodeDevicePayload(data any) (proto.Message, bool) {
	d, ok := data.(device.Device)
	if !ok {
		return nil, false
	}
	return &lpv1.DeviceChanged{Device: DeviceToProto(d)}, true
}

func decodeDevicePayload(b []byte) (any, error) {
	var m lpv1.DeviceChanged
	err := proto.Unmarshal(b, &m)
	return DeviceFromProto(m.GetDevice()), err
}

// DeviceToProto is shared with the RPC driver. The key hash never leaves.
func DeviceToProto(d device.Device) *lpv1.Device {
	return &lpv1.Device{
		Id: d.ID, AccountId: d.AccountID, Name: d.Name, Disabled: d.Disabled, Generation: d.Generation,
		CreateTime: ts(d.CreatedAt), UpdateTime: ts(d.UpdatedAt),
	}
}

func DeviceFromProto(p *lpv1.Device) device.Device {
	return device.Device{
		ID: p.GetId(), AccountID: p.GetAccountId(), Name: p.GetName(), Disabled: p.GetDisabled(),
		Generation: p.GetGeneration(), CreatedAt: fromTS(p.GetCreateTime()), UpdatedAt: fromTS(p.GetUpdateTime()),
	}
}
