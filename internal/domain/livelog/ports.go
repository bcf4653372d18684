// Package livelog is the live-log window: per-device lines with a stream
// sequence (seq), the seq of the device's previous line (prev) and the
// stream's identity (epoch), and the resume rule that turns a client's last
// (seq, epoch) into the lines it missed, or an explicit gap. The protocol
// that carries them is docs/live-logs.md.
package livelog

import "context"

// Entry is one stored line.
type Entry struct {
	DeviceID string
	Seq      uint64 // stream sequence: increasing per device within an epoch, not contiguous
	Prev     uint64 // Seq of the device's previous line when this one was stored; 0 = none retained
	Epoch    string
	// Body is the line's JSON as published: one object with deviceId,
	// timestamp, type, message and data. Shared; never modified.
	Body []byte
	// More is a hint from a Feed: further lines are ready right now, so a
	// writer may wait for them and write them together.
	More bool
}

// Window reads the retained lines of the current epoch. Implementations are
// safe for concurrent use; every method may fail with a domain error of code
// CodeUnavailable when the bus cannot be reached.
type Window interface {
	// Epoch is the current identity of the stream. It changes when the
	// stream is recreated, and then every seq starts again.
	Epoch(ctx context.Context) (string, error)
	// Last returns the device's newest retained line; ok is false when the
	// device has none.
	Last(ctx context.Context, deviceID string) (e Entry, ok bool, err error)
	// Get returns the device's line at seq; ok is false when seq is not a
	// retained line of that device.
	Get(ctx context.Context, deviceID string, seq uint64) (e Entry, ok bool, err error)
	// Next returns the device's first retained line with Seq >= from; ok is
	// false when there is none.
	Next(ctx context.Context, deviceID string, from uint64) (e Entry, ok bool, err error)
}

// Feed delivers every line stored after Follow starts, of every device, in
// stream order, from a single goroutine, until ctx ends or the bus fails
// for good. Entries of a recreated stream carry its new Epoch.
type Feed interface {
	Follow(ctx context.Context, deliver func(Entry)) error
}
