package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The live-log window: a memory stream, one subject per device.
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
	Replicas int           // copies of a new stream (ReplicasFor); an existing one keeps its count
}

// LiveLogStreamConfig is the stream EnsureLiveLogStream declares.
func LiveLogStreamConfig(w LiveLogWindow) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              LiveLogStream,
		Description:       "liveplane live-log lines: the per-device window for history and resume (docs/live-logs.md)",
		Subjects:          []string{LiveLogSubjects},
		Storage:           jetstream.MemoryStorage,
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
// its replica count and its epoch.
func EnsureLiveLogStream(ctx context.Context, js jetstream.JetStream, w LiveLogWindow) (string, error) {
	cfg := LiveLogStreamConfig(w)
	cfg.Replicas = max(w.Replicas, 1)
	s, err := js.Stream(ctx, cfg.Name)
	switch {
	case err == nil:
		cfg.Replicas = s.CachedInfo().Config.Replicas
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
