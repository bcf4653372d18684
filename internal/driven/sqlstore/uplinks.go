package sqlstore

import (
	"context"
	"strconv"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// insertUplinks stores a batch of uplink records in tx. The activity row
// carries the uplink's idempotency key (device, boot, uplink_count), so a
// record already stored inserts nothing and gets no sensor rows;
// device_config keeps the newest report by receive time, so replays and
// reordering never roll it back. Each engine has the statement shape that is
// cheapest for it (uplinks_sqlite.go, uplinks_postgres.go).
func (t *Tx) insertUplinks(ctx context.Context, recs []device.Record) error {
	if t.s.engine == enginePostgres {
		return t.insertUplinksUnnest(ctx, recs)
	}
	return t.insertUplinksRowwise(ctx, recs)
}

// newer orders two records of one device by receive time, then position.
func newer(a, b device.Record) bool {
	if !a.ReceivedAt.Equal(b.ReceivedAt) {
		return a.ReceivedAt.After(b.ReceivedAt)
	}
	if a.BootCount != b.BootCount {
		return a.BootCount > b.BootCount
	}
	return a.UplinkCount > b.UplinkCount
}

// appendAckJSON writes a ConfigAck as encoding/json does (the ack column
// has always held json.Marshal(device.ConfigAck)).
func appendAckJSON(b []byte, a device.ConfigAck) []byte {
	b = append(b, `{"AppliedVersion":`...)
	b = strconv.AppendUint(b, a.AppliedVersion, 10)
	if a.Results == nil {
		return append(b, `,"Results":null}`...)
	}
	b = append(b, `,"Results":[`...)
	for i, r := range a.Results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Key":`...)
		b = device.AppendJSONString(b, r.Key)
		b = append(b, `,"Status":`...)
		b = device.AppendJSONString(b, string(r.Status))
		b = append(b, `,"Reason":`...)
		b = device.AppendJSONString(b, r.Reason)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
