package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The live-log window: a stream with one subject per device, on JetStream's
// file store unless LiveLogWindow.Storage says memory.
const (
	LiveLogStream   = "LIVEPLANE_LIVELOG"
	LiveLogSubjects = LiveLogSubjectPrefix + ">"
	// liveLogMaxLine bounds one stored line; a CoAP uplink's line is a few
	// KiB at most.
	liveLogMaxLine = 64 << 10
)

// LiveLogWindow sizes the stream.
type LiveLogWindow struct {
	Lines    int64         // per device
	Age      time.Duration // per line
	MaxBytes int64         // all devices
	// Storage of a new stream; the zero value is the file store. A memory
	// stream of a few hundred thousand lines was most of the objects on
	// serve's heap (nats-server keeps each message as its own objects),
	// and at 5,000 uplinks/s every GC cycle marking them cost hundreds of
	// CoAP replies 25 ms on one core; the file store keeps its recent
	// blocks as flat buffers and the rest in the page cache. An existing
	// stream keeps its storage: JetStream cannot change it in place.
	Storage  jetstream.StorageType
	Replicas int // copies of a new stream (ReplicasFor); an existing one keeps its count
}

// LiveLogStreamConfig is the stream EnsureLiveLogStream declares.
func LiveLogStreamConfig(w LiveLogWindow) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              LiveLogStream,
		Description:       "liveplane live-log lines: the per-device window for history and resume (docs/live-logs.md)",
		Subjects:          []string{LiveLogSubjects},
		Storage:           w.Storage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: w.Lines,
		MaxAge:            w.Age,
		MaxBytes:          w.MaxBytes,
		MaxMsgSize:        liveLogMaxLine,
		AllowDirect:       true, // history reads go to any replica of the stream, not its leader only
	}
}

// EnsureLiveLogStream creates the stream or updates its limits, and returns
// its epoch. Safe from every replica at startup; an existing stream keeps
// its replica count, its storage and its epoch.
func EnsureLiveLogStream(ctx context.Context, js jetstream.JetStream, w LiveLogWindow) (string, error) {
	cfg := LiveLogStreamConfig(w)
	cfg.Replicas = max(w.Replicas, 1)
	s, err := js.Stream(ctx, cfg.Name)
	switch {
	case err == nil:
		cfg.Replicas, cfg.Storage = s.CachedInfo().Config.Replicas, s.CachedInfo().Config.Storage
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return "", fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	if s, err = js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return "", fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return epochOf(s.CachedInfo()), nil
}

// epochOf identifies a stream incarnation by its creation time: the same
// for every replica, new when the stream is recreated.
func epochOf(info *jetstream.StreamInfo) string {
	return strconv.FormatInt(info.Created.UnixNano(), 16)
}
