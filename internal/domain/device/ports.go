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

	// Twin is a device's configuration state; CodeNotFound when none was
	// saved yet (the zero twin then applies).
	Twin(ctx context.Context, deviceID string) (Twin, error)
	// Defaults are an account's configuration defaults; the zero value
	// (version 0, no values) when none were set.
	Defaults(ctx context.Context, accountID string) (Defaults, error)
	// TwinConfig is Twin and the device's account's Defaults in one read;
	// CodeNotFound when the device has no twin row.
	TwinConfig(ctx context.Context, deviceID string) (Twin, Defaults, error)
	// ConfigHistory pages a device's history (q.DeviceID) or an account's
	// defaults history, newest first, ids below q.Before ("" = newest).
	ConfigHistory(ctx context.Context, q HistoryQuery) ([]ConfigChange, error)
	// ProvisioningKeyByHash finds a key by the hash of its secret;
	// CodeNotFound when none.
	ProvisioningKeyByHash(ctx context.Context, hash string) (ProvisioningKey, error)
	// ProvisioningKeys lists an account's keys in creation order.
	ProvisioningKeys(ctx context.Context, accountID string) ([]ProvisioningKey, error)
}

// HistoryQuery selects a page of configuration history.
type HistoryQuery struct {
	DeviceID  string // set: this device's changes
	AccountID string // with DeviceID empty: the account's defaults changes
	Before    string // exclusive id; "" = from the newest
	Limit     int
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

	// Twin reads and (on PostgreSQL) locks a device's configuration state;
	// CodeNotFound when none was saved.
	Twin(ctx context.Context, deviceID string) (Twin, error)
	// PutTwin inserts or replaces the state (keyed by DeviceID).
	PutTwin(ctx context.Context, t Twin) error
	// Defaults reads an account's defaults (zero when none) without
	// locking: uplinks and enrolments of one account must not queue on it.
	Defaults(ctx context.Context, accountID string) (Defaults, error)
	// LockDefaults reads and locks them (creating the empty row first), for
	// a read-modify-write with an expected version.
	LockDefaults(ctx context.Context, accountID string) (Defaults, error)
	PutDefaults(ctx context.Context, d Defaults) error
	// AppendConfigChanges records history entries (IDs set by the caller).
	AppendConfigChanges(ctx context.Context, changes ...ConfigChange) error
	// AckConfigChanges stamps the device's unacknowledged entries with
	// Version <= version as acknowledged at at.
	AckConfigChanges(ctx context.Context, deviceID string, version uint64, at time.Time) error

	ProvisioningKey(ctx context.Context, id string) (ProvisioningKey, error)
	InsertProvisioningKey(ctx context.Context, k ProvisioningKey) error
	UpdateProvisioningKey(ctx context.Context, k ProvisioningKey) error
	// UseProvisioningKey checks that the key may enrol one more device at
	// now (not revoked, not expired, uses left: a key's uses are the devices
	// enrolled with it, so the device insert in the same transaction is the
	// use); otherwise CodeNotFound. With a use limit it locks the key, so
	// concurrent enrolments cannot exceed it.
	UseProvisioningKey(ctx context.Context, id string, now time.Time) error
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

// Line is one live-log line, as the live-logs flow delivers it. Encode it
// with AppendJSON (or encoding/json, which gives the same bytes).
type Line struct {
	DeviceID  string         `json:"deviceId"`
	Timestamp time.Time      `json:"timestamp"`
	Type      string         `json:"type"` // any kind: "uplink", "error", "config", ...
	Message   string         `json:"message"`
	Data      map[string]any `json:"data,omitempty"`
	// uplink is the data of an uplink line (Data is then nil): AppendJSON
	// renders it from the uplink, so no map is built per uplink.
	uplink *Uplink
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
