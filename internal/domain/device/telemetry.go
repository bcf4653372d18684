package device

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// Page limits for telemetry queries.
const (
	DefaultTelemetryPage = 100
	MaxTelemetryPage     = 1000
)

// Reported returns the configuration of the device's latest stored uplink.
func (s *Service) Reported(ctx context.Context, id string) (Reported, error) {
	const op = "device.Reported"
	if _, err := s.visible(ctx, op, id); err != nil {
		return Reported{}, err
	}
	r, err := s.store.Reported(ctx, id)
	if domain.Is(err, domain.CodeNotFound) {
		return Reported{Config: map[string]string{}}, nil
	}
	return r, domain.Wrap(op, err)
}

// Range is a page request over receive time.
type Range struct {
	Since, Until time.Time
	PageSize     int
	PageToken    string
}

// Activity pages a device's activity records in receive order.
func (s *Service) Activity(ctx context.Context, id string, r Range) ([]ActivityRecord, string, error) {
	const op = "device.Activity"
	q, err := s.query(ctx, op, id, r)
	if err != nil {
		return nil, "", err
	}
	list, err := s.store.Activity(ctx, id, q)
	if err != nil {
		return nil, "", domain.Wrap(op, err)
	}
	next := ""
	if len(list) > q.Limit-1 {
		list = list[:q.Limit-1]
		last := list[len(list)-1]
		next = encodeCursor(Cursor{last.ReceivedAt, last.BootCount, last.UplinkCount, 0})
	}
	return list, next, nil
}

// SensorData pages a device's readings in receive order.
func (s *Service) SensorData(ctx context.Context, id string, r Range) ([]SensorReading, string, error) {
	const op = "device.SensorData"
	q, err := s.query(ctx, op, id, r)
	if err != nil {
		return nil, "", err
	}
	list, err := s.store.SensorData(ctx, id, q)
	if err != nil {
		return nil, "", domain.Wrap(op, err)
	}
	next := ""
	if len(list) > q.Limit-1 {
		list = list[:q.Limit-1]
		last := list[len(list)-1]
		next = encodeCursor(Cursor{last.ReceivedAt, last.BootCount, last.UplinkCount, last.Index})
	}
	return list, next, nil
}

// query checks access and the range; Limit is one more than the page size,
// so the extra row tells whether a next page exists.
func (s *Service) query(ctx context.Context, op, id string, r Range) (Query, error) {
	if _, err := s.visible(ctx, op, id); err != nil {
		return Query{}, err
	}
	if r.PageSize < 0 || r.PageSize > MaxTelemetryPage {
		return Query{}, domain.Errorf(domain.CodeInvalid, op, "page_size: must be between 0 and %d", MaxTelemetryPage)
	}
	if r.PageSize == 0 {
		r.PageSize = DefaultTelemetryPage
	}
	if !r.Until.IsZero() && !r.Since.IsZero() && !r.Until.After(r.Since) {
		return Query{}, domain.Errorf(domain.CodeInvalid, op, "range: until must be after since")
	}
	q := Query{Since: r.Since, Until: r.Until, Limit: r.PageSize + 1}
	if r.PageToken != "" {
		c, err := decodeCursor(r.PageToken)
		if err != nil {
			return Query{}, domain.Errorf(domain.CodeInvalid, op, "page_token: not a token this server issued")
		}
		q.After = c
	}
	return q, nil
}

func encodeCursor(c Cursor) string {
	s := fmt.Sprintf("%d.%d.%d.%d", c.ReceivedAt.UnixMicro(), c.BootCount, c.UplinkCount, c.Index)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(tok string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return Cursor{}, err
	}
	var us int64
	var c Cursor
	if n, err := fmt.Sscanf(string(b), "%d.%d.%d.%d", &us, &c.BootCount, &c.UplinkCount, &c.Index); err != nil || n != 4 {
		return Cursor{}, fmt.Errorf("bad cursor")
	}
	c.ReceivedAt = time.UnixMicro(us).UTC()
	return c, nil
}
