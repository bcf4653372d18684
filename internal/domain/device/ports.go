package device

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// Store is the system of record for devices and what they reported.
// Errors carry domain codes: CodeNotFound for a missing row, CodeConflict for
// a uniqueness violation, CodeUnavailable when the database cannot be reached.
type Store interface {
	// Update runs fn in one write transaction (see account.Store.Update).
	Update(ctx context.Context, fn func(tx Tx) error) error
	Device(ctx context.Context, id string) (Device, error)
	// Devices lists an account's devices with ID > after in ID order.
	Devices(ctx context.Context, accountID, after string, limit int) ([]Device, error)
	// Secret returns the installation secret called name, creating it from
	// create() on first use; every replica on the same database gets the same
	// bytes (the first writer wins).
	Secret(ctx context.Context, name string, create func() []byte) ([]byte, error)

	// Reported is the latest stored uplink's configuration; CodeNotFound when
	// the device never sent one.
	Reported(ctx context.Context, deviceID string) (Reported, error)
	// Activity and SensorData page by (receive time, boot, uplink[, index])
	// ascending within q's range, after q.After, at most q.Limit rows.
	Activity(ctx context.Context, deviceID string, q Query) ([]ActivityRecord, error)
	SensorData(ctx context.Context, deviceID string, q Query) ([]SensorReading, error)
}

// Tx is the write side of one transaction.
type Tx interface {
	Account(ctx context.Context, id string) (account.Account, error)
	// Device reads and (on PostgreSQL) locks the row.
	Device(ctx context.Context, id string) (Device, error)
	// InsertDevice fails with CodeConflict when the account already has a
	// device of that name.
	InsertDevice(ctx context.Context, d Device) error
	UpdateDevice(ctx context.Context, d Device) error
	// DeleteDevice removes the device and everything it reported.
	DeleteDevice(ctx context.Context, id string) error
	Append(ctx context.Context, events ...domain.Event) error
}

// Writer persists uplink records.
//
// Write returns nil once r is durable: committed to the database, or, while
// the database is unavailable, appended to an on-disk spool that is applied
// when it is back. Writing the same Key twice (a retransmission, a replay of
// the spool) stores one row set. Write is safe for concurrent use and batches
// concurrent callers into few transactions; it fails with CodeUnavailable
// when neither the database nor the spool can take r.
type Writer interface {
	Write(ctx context.Context, r Record) error
}

// LiveLog broadcasts live-log lines per device. Publish must not block on
// the database, nor for long on anything: a slow bus drops lines rather than
// delaying uplinks (live logs are best effort; storage is not).
type LiveLog interface {
	Publish(deviceID string, line Line)
}

// Line is one live-log line, as the live-logs flow delivers it.
type Line struct {
	DeviceID  string         `json:"deviceId"`
	Timestamp time.Time      `json:"timestamp"`
	Type      string         `json:"type"` // any kind: "uplink", "error", "config", ...
	Message   string         `json:"message"`
	Data      map[string]any `json:"data,omitempty"`
}

// Downlinks decides what an uplink's reply carries. The reconciliation flow
// implements it (desired vs reported config → UpdateConfigCommand); until
// then NoDownlinks answers every uplink with an empty slot. Pending is called
// once per uplink Key: its answer is cached and repeated for duplicates.
type Downlinks interface {
	Pending(ctx context.Context, d Device, u Uplink) (Downlink, error)
}

// NoDownlinks never has anything pending.
type NoDownlinks struct{}

func (NoDownlinks) Pending(context.Context, Device, Uplink) (Downlink, error) { return Downlink{}, nil }

// Query selects a page of telemetry.
type Query struct {
	Since, Until time.Time // [Since, Until); zero = unbounded
	After        Cursor    // exclusive; zero = from the start of the range
	Limit        int
}

// Cursor is a position in a device's telemetry.
type Cursor struct {
	ReceivedAt  time.Time
	BootCount   uint32
	UplinkCount uint32
	Index       uint32
}

// Reported is the configuration state of a device's latest uplink.
type Reported struct {
	Config      map[string]string
	Ack         ConfigAck
	Firmware    string
	Hardware    string
	BootCount   uint32
	UplinkCount uint32
	ReportedAt  time.Time
}

type ActivityRecord struct {
	ReceivedAt   time.Time
	BootCount    uint32
	UplinkCount  uint32
	RebootReason RebootReason
	Activity     Activity
	DeviceTimeMs int64
}

// SensorReading is one temperature or one wifi scan (Wifi set).
type SensorReading struct {
	ReceivedAt   time.Time
	BootCount    uint32
	UplinkCount  uint32
	Index        uint32
	CentiCelsius int32
	Wifi         *WifiScan
}
