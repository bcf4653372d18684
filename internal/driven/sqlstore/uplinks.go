package sqlstore

import (
	"context"
	"strconv"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// writeUplinks stores a batch of uplink records in one transaction. The
// activity row carries the uplink's idempotency key (device, boot,
// uplink_count), so a record already stored inserts nothing and gets no
// sensor rows; device_config keeps the newest report by receive time, so
// replays and reordering never roll it back. Each engine has the shape that
// is cheapest for it: on SQLite a turn of the funnel's group commit
// (uplinks_sqlite.go), on PostgreSQL one statement that commits on its own
// (uplinks_postgres.go).
func (s *Store) writeUplinks(ctx context.Context, recs []device.Record) error {
	if s.engine != enginePostgres {
		return s.update(ctx, func(t *Tx) error { return t.insertUplinksRowwise(ctx, recs) })
	}
	if err := insertUplinksPG(ctx, s.wdb, recs); err != nil {
		s.metrics.failures.Inc()
		return err
	}
	s.metrics.commits.Inc()
	return nil
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
