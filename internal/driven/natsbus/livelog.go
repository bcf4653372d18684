package natsbus

import (
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// LiveLogSubjectPrefix is followed by the device id: one core-NATS subject
// per device, so a WebSocket hub (the live-logs flow) subscribes to exactly
// the devices its clients watch, on any replica.
const LiveLogSubjectPrefix = "liveplane.livelog."

// LiveLog publishes device live-log lines as JSON on core NATS. Publish only
// buffers (nats.go writes in the background), so it never waits for the
// database or the network; when the connection is down and its reconnect
// buffer full, the line is dropped and counted: live logs are best effort.
type LiveLog struct {
	nc      *nats.Conn
	log     *slog.Logger
	dropped prometheus.Counter
}

var _ device.LiveLog = (*LiveLog)(nil)

func NewLiveLog(nc *nats.Conn, log *slog.Logger, reg prometheus.Registerer) (*LiveLog, error) {
	l := &LiveLog{nc: nc, log: log, dropped: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "liveplane_livelog_dropped_total", Help: "Live-log lines not published (bus down and its buffer full).",
	})}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if reg != nil {
		var err error
		if l.dropped, err = register(reg, l.dropped); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *LiveLog) Publish(deviceID string, line device.Line) {
	b, err := json.Marshal(line)
	if err == nil {
		err = l.nc.Publish(LiveLogSubjectPrefix+deviceID, b)
	}
	if err != nil {
		l.dropped.Inc()
		l.log.Debug("live-log line dropped", "device", deviceID, "err", err)
	}
}
