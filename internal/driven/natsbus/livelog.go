package natsbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// LiveLogSubjectPrefix is followed by the device id: one subject per device
// in the LIVEPLANE_LIVELOG stream, so a device's lines are one subject's
// messages and their stream sequences are the lines' seqs.
const LiveLogSubjectPrefix = "liveplane.livelog."

// Headers of a stored live-log line.
const (
	// PrevHeader carries the seq of the device's previous line, the value
	// the publisher made JetStream check with expectedLastSubjSeqHeader.
	PrevHeader                = "Liveplane-Prev"
	expectedLastSubjSeqHeader = "Nats-Expected-Last-Subject-Sequence"
	// lineIDHeader names a line uniquely across processes and restarts,
	// so that a publish sent again can tell whether its first copy landed.
	lineIDHeader = "Liveplane-Line"
)

// Publisher limits: lines wait in a per-device queue while the device's
// previous line is being stored (a device's lines are stored one at a
// time, so each knows its predecessor's seq).
const (
	liveLogDeviceQueue = 256   // lines queued per device
	liveLogTotalQueue  = 65536 // lines queued for all devices
	liveLogLastCache   = 100_000
	liveLogPublishWait = 2 * time.Second
	liveLogAttempts    = 5
	liveLogDrainWait   = 2 * time.Second
)

// LiveLogOptions configure NewLiveLog.
type LiveLogOptions struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Ensure recreates the stream when a publish finds it missing (an
	// external NATS server restarted and lost its memory streams).
	Ensure func(context.Context) error
}

// LiveLog stores device live-log lines in the LIVEPLANE_LIVELOG stream.
// Publish only queues: a goroutine per device with queued lines stores them
// in order, each with the seq of its predecessor checked by JetStream
// (Nats-Expected-Last-Subject-Sequence), so prev is exact even when several
// replicas publish lines of the same device. A line that cannot be stored
// (queue full, bus down) is dropped and counted: live logs are best effort,
// but a drop is visible in liveplane_livelog_dropped_total and never leaves a
// hole in the seq/prev chain.
type LiveLog struct {
	js        jetstream.JetStream
	log       *slog.Logger
	ensure    func(context.Context) error
	dropped   prometheus.Counter
	published prometheus.Counter
	ctx       context.Context
	stop      context.CancelFunc
	wg        sync.WaitGroup

	// idPrefix and nextID name each line (lineIDHeader), unique across
	// processes and restarts.
	idPrefix string
	nextID   atomic.Uint64
	retried  prometheus.Counter

	mu     sync.Mutex
	closed bool
	queues map[string]*lineQueue
	queued int
	last   map[string]uint64 // device -> seq of its newest stored line, as far as we know
}

type lineQueue struct{ lines [][]byte }

// lineBufs recycles encoded lines: a line's buffer is free again once the
// publish returned (nats.go has copied it into its write buffer by then).
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func putLineBuf(b []byte) {
	if cap(b) <= 16<<10 { // an odd huge line is not kept
		b = b[:0]
		lineBufs.Put(&b)
	}
}

var _ device.LiveLog = (*LiveLog)(nil)

func NewLiveLog(js jetstream.JetStream, o LiveLogOptions) (*LiveLog, error) {
	ctx, stop := context.WithCancel(context.Background())
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	l := &LiveLog{js: js, log: o.Logger, ensure: o.Ensure, ctx: ctx, stop: stop,
		idPrefix: "ll-" + hex.EncodeToString(rnd[:]) + "-",
		queues:   map[string]*lineQueue{}, last: map[string]uint64{},
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_livelog_publish_retries_total",
			Help: "Live-log publishes sent again because the stream's answer did not come in time (a copy that landed is found by its line id, never stored twice).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_livelog_dropped_total",
			Help: "Live-log lines not stored (bus down, or the device's publish queue full).",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_livelog_published_total", Help: "Live-log lines stored in the live-log stream.",
		}),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if reg := o.Registerer; reg != nil {
		var err error
		if l.dropped, err = register(reg, l.dropped); err != nil {
			return nil, err
		}
		if l.published, err = register(reg, l.published); err != nil {
			return nil, err
		}
		if l.retried, err = register(reg, l.retried); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Publish queues line for storage and returns at once.
func (l *LiveLog) Publish(deviceID string, line device.Line) {
	bp := lineBufs.Get().(*[]byte)
	b, err := line.AppendJSON((*bp)[:0])
	if err != nil || deviceID == "" {
		lineBufs.Put(bp)
		l.drop(deviceID, errors.Join(err, errors.New("bad line")))
		return
	}
	l.mu.Lock()
	q := l.queues[deviceID]
	switch {
	case l.closed:
		err = errors.New("closed")
	case l.queued >= liveLogTotalQueue || (q != nil && len(q.lines) >= liveLogDeviceQueue):
		err = errors.New("publish queue full")
	}
	if err != nil {
		l.mu.Unlock()
		*bp = b
		lineBufs.Put(bp)
		l.drop(deviceID, err)
		return
	}
	l.queued++
	if q == nil {
		q = &lineQueue{}
		l.queues[deviceID] = q
		l.wg.Add(1)
		go l.run(deviceID, q)
	}
	q.lines = append(q.lines, b)
	l.mu.Unlock()
}

// Close refuses new lines and lets the queued ones be stored for up to
// liveLogDrainWait; what is left then is dropped (counted).
func (l *LiveLog) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(liveLogDrainWait):
		l.stop()
		<-done
	}
	l.stop()
}

func (l *LiveLog) drop(deviceID string, err error) {
	l.dropped.Inc()
	l.log.Debug("live-log line dropped", "device", deviceID, "err", err)
}

// run stores a device's queued lines one at a time and ends when the queue
// is empty: idle devices cost no goroutine.
func (l *LiveLog) run(deviceID string, q *lineQueue) {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		if len(q.lines) == 0 {
			delete(l.queues, deviceID)
			l.mu.Unlock()
			return
		}
		b := q.lines[0]
		q.lines[0] = nil
		q.lines = q.lines[1:]
		l.queued--
		prev, known := l.last[deviceID]
		l.mu.Unlock()

		seq, err := l.store(deviceID, b, prev, known)
		putLineBuf(b)
		l.mu.Lock()
		if err != nil {
			delete(l.last, deviceID)
		} else {
			if len(l.last) >= liveLogLastCache {
				clear(l.last) // cheap bound; a miss costs one lookup
			}
			l.last[deviceID] = seq
		}
		l.mu.Unlock()
		if err != nil {
			l.drop(deviceID, err)
		} else {
			l.published.Inc()
		}
	}
}

// store publishes one line expecting prev as the subject's last seq; when
// another publisher got there first (or prev is unknown) it reads the
// subject's actual last seq and tries again. A publish whose answer did not
// come in time is sent again as it was. If that copy is refused because
// the subject moved on, the earlier one may be what moved it: it can only
// have landed as the subject's first line after the seq it expected, so
// that line is read, and if it carries this line's id it is the answer.
//
// This replaces JetStream's Nats-Msg-Id deduplication, which keeps every
// id of the last Duplicates window on the server's heap: 150,000 to
// 450,000 objects at 5,000 lines/s on serve's own, embedded server, marked
// by every GC cycle, for a retry that happens only when the stream stalls.
func (l *LiveLog) store(deviceID string, b []byte, prev uint64, known bool) (uint64, error) {
	subject := LiveLogSubjectPrefix + deviceID
	id := []string{l.idPrefix + strconv.FormatUint(l.nextID.Add(1), 36)}
	var (
		err      error
		unsure   bool   // an attempt timed out: it may have landed
		unsureAt uint64 // the prev it expected
	)
	for range liveLogAttempts {
		if l.ctx.Err() != nil {
			return 0, l.ctx.Err()
		}
		var ack *jetstream.PubAck
		err = nil
		if !known {
			prev, err = l.lastSeq(subject)
		}
		if err == nil {
			p := []string{strconv.FormatUint(prev, 10)} // read-only: both headers share it
			msg := &nats.Msg{Subject: subject, Data: b, Header: nats.Header{expectedLastSubjSeqHeader: p, PrevHeader: p, lineIDHeader: id}}
			ctx, cancel := context.WithTimeout(l.ctx, liveLogPublishWait)
			ack, err = l.js.PublishMsg(ctx, msg)
			cancel()
		}
		switch {
		case err == nil:
			return ack.Sequence, nil
		case isWrongLastSeq(err):
			if unsure {
				seq, ours, lerr := l.landed(subject, unsureAt, id[0])
				if lerr != nil {
					return 0, errors.Join(err, lerr)
				}
				if ours {
					return seq, nil
				}
				unsure = false // refused or overtaken: it never lands later (one connection, in order)
			}
			known = false
		case (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) && l.js.Conn().IsConnected():
			// Connected, but the stream (or this process) was slower than
			// liveLogPublishWait: same line, same id, again. With the
			// connection down the line is dropped instead, as before:
			// lines are best effort and must not pile up behind an outage.
			l.retried.Inc()
			unsure, unsureAt, known = true, prev, true // as it was: expecting the same prev
		case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
			errors.Is(err, jetstream.ErrStreamNotFound):
			if l.ensure == nil {
				return 0, err
			}
			ctx, cancel := context.WithTimeout(l.ctx, liveLogPublishWait)
			eerr := l.ensure(ctx)
			cancel()
			if eerr != nil {
				return 0, errors.Join(err, eerr)
			}
			known = false
		default:
			return 0, err
		}
	}
	return 0, err
}

// landed reads the subject's first line after seq after and reports
// whether it is the line id (and its seq).
func (l *LiveLog) landed(subject string, after uint64, id string) (uint64, bool, error) {
	ctx, cancel := context.WithTimeout(l.ctx, liveLogPublishWait)
	defer cancel()
	s, err := l.js.Stream(ctx, LiveLogStream)
	if err != nil {
		return 0, false, err
	}
	m, err := s.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return m.Sequence, m.Header.Get(lineIDHeader) == id, nil
}

func (l *LiveLog) lastSeq(subject string) (uint64, error) {
	ctx, cancel := context.WithTimeout(l.ctx, liveLogPublishWait)
	defer cancel()
	s, err := l.js.Stream(ctx, LiveLogStream)
	if err != nil {
		return 0, err
	}
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
