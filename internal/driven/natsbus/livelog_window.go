package natsbus

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/livelog"
)

// streamCheckEvery is how often Follow reads the stream's state: to compare
// its epoch with the one it follows (a stream recreated behind its back, an
// external NATS server restarted, must not be read as the continuation of
// the old one), and to trim it (trim).
const streamCheckEvery = 2 * time.Second

// epochFresh is how long Epoch trusts its cached value.
const epochFresh = time.Second

// LiveWindow reads the live-log stream: history by direct gets (one request
// per line, on any replica of the stream) and the live feed by one ordered
// consumer over every device's subject.
type LiveWindow struct {
	js     jetstream.JetStream
	window LiveLogWindow
	log    *slog.Logger

	mu      sync.Mutex
	stream  jetstream.Stream
	epoch   string
	checked time.Time // when epoch was last read from the server
}

var (
	_ livelog.Window = (*LiveWindow)(nil)
	_ livelog.Feed   = (*LiveWindow)(nil)
)

// NewLiveWindow ensures the stream exists with the window's limits.
func NewLiveWindow(ctx context.Context, js jetstream.JetStream, w LiveLogWindow, log *slog.Logger) (*LiveWindow, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lw := &LiveWindow{js: js, window: w, log: log}
	if _, _, err := lw.refresh(ctx); err != nil {
		return nil, err
	}
	return lw, nil
}

// Ensure recreates the stream if it is gone (for LiveLogOptions.Ensure).
func (w *LiveWindow) Ensure(ctx context.Context) error {
	_, _, err := w.refresh(ctx)
	return err
}

func (w *LiveWindow) refresh(ctx context.Context) (jetstream.Stream, string, error) {
	epoch, err := EnsureLiveLogStream(ctx, w.js, w.window)
	if err != nil {
		return nil, "", err
	}
	s, err := w.js.Stream(ctx, LiveLogStream)
	if err != nil {
		return nil, "", err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.epoch != "" && w.epoch != epoch {
		w.log.Warn("live-log stream was recreated: new epoch", "old", w.epoch, "epoch", epoch)
	}
	if st := s.CachedInfo().Config.Storage; w.epoch != epoch && st != w.window.Storage {
		w.log.Warn("the live-log stream keeps the storage it was created with; delete the stream to change it",
			"stream", LiveLogStream, "storage", st.String(), "configured", w.window.Storage.String())
	}
	w.stream, w.epoch, w.checked = s, epoch, time.Now()
	return s, epoch, nil
}

// The window's byte cap is kept by trimming in bulk. nats-server's file
// store, at its MaxBytes, deletes the oldest line for every line stored,
// loading the oldest block each time: at 5,000 lines/s, once the 256 MiB
// cap was reached (~50 s), the share of CoAP answers over 25 ms went from
// about 2 % to 6-24 % (BENCHMARKS.md, "PostgreSQL over 5 minutes"). Every
// replica's Follow, at each of its stream checks, purges the oldest lines
// in one request whenever the stream holds trimHigh of its cap, down to
// about trimLow, so that MaxBytes stays a safety net the stream does not
// reach. A purge below a seq that is already gone removes nothing, so
// replicas need no coordination. The other limits (lines per device, age)
// are the stream's own.
const (
	trimHigh = 0.85
	trimLow  = 0.70
)

// trim purges s's oldest lines when info shows it near its byte cap.
func trim(ctx context.Context, s jetstream.Stream, info *jetstream.StreamInfo) error {
	if cut, ok := trimCut(info.State.Bytes, info.State.FirstSeq, info.State.LastSeq, info.Config.MaxBytes); ok {
		return s.Purge(ctx, jetstream.WithPurgeSequence(cut))
	}
	return nil
}

// trimCut is the first seq to keep so that about trimLow of max remains,
// taking lines to be of one size and spread evenly over the seqs; ok is
// false while the stream holds less than trimHigh of max.
func trimCut(bytes, first, last uint64, max int64) (uint64, bool) {
	if max <= 0 || last < first || float64(bytes) < trimHigh*float64(max) {
		return 0, false
	}
	drop := (float64(bytes) - trimLow*float64(max)) / float64(bytes)
	return first + uint64(drop*float64(last-first+1)), true
}

func (w *LiveWindow) current() (jetstream.Stream, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stream, w.epoch
}

// Epoch is re-read from the server when the cached value is older than
// epochFresh: a resume must not be judged against a stream that another
// replica has recreated meanwhile (seqs of the new stream would pass for
// the old one's).
func (w *LiveWindow) Epoch(ctx context.Context) (string, error) {
	w.mu.Lock()
	s, e, fresh := w.stream, w.epoch, time.Since(w.checked) < epochFresh
	w.mu.Unlock()
	if fresh {
		return e, nil
	}
	info, err := s.Info(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, e, err = w.refresh(ctx)
		return e, err
	}
	if err != nil {
		return "", domain.Errorf(domain.CodeUnavailable, "natsbus.LiveWindow", "read live-log stream: %v", err)
	}
	e = epochOf(info)
	w.mu.Lock()
	if e != w.epoch {
		w.log.Warn("live-log stream was recreated: new epoch", "old", w.epoch, "epoch", e)
	}
	w.epoch, w.checked = e, time.Now()
	w.mu.Unlock()
	return e, nil
}

func (w *LiveWindow) Last(ctx context.Context, deviceID string) (livelog.Entry, bool, error) {
	s, epoch := w.current()
	m, err := s.GetLastMsgForSubject(ctx, LiveLogSubjectPrefix+deviceID)
	return w.entry(deviceID, epoch, m, err)
}

func (w *LiveWindow) Get(ctx context.Context, deviceID string, seq uint64) (livelog.Entry, bool, error) {
	if seq == 0 {
		return livelog.Entry{}, false, nil
	}
	s, epoch := w.current()
	m, err := s.GetMsg(ctx, seq)
	if err == nil && m.Subject != LiveLogSubjectPrefix+deviceID {
		return livelog.Entry{}, false, nil
	}
	return w.entry(deviceID, epoch, m, err)
}

func (w *LiveWindow) Next(ctx context.Context, deviceID string, from uint64) (livelog.Entry, bool, error) {
	s, epoch := w.current()
	m, err := s.GetMsg(ctx, max(from, 1), jetstream.WithGetMsgSubject(LiveLogSubjectPrefix+deviceID))
	return w.entry(deviceID, epoch, m, err)
}

func (w *LiveWindow) entry(deviceID, epoch string, m *jetstream.RawStreamMsg, err error) (livelog.Entry, bool, error) {
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return livelog.Entry{}, false, nil
	case err != nil:
		return livelog.Entry{}, false, domain.Errorf(domain.CodeUnavailable, "natsbus.LiveWindow", "read live-log window: %v", err)
	}
	return livelog.Entry{DeviceID: deviceID, Seq: m.Sequence, Prev: prevOf(m.Header), Epoch: epoch, Body: m.Data}, true, nil
}

func prevOf(h nats.Header) uint64 {
	v := h[PrevHeader]
	if len(v) == 0 {
		return 0
	}
	p, _ := strconv.ParseUint(v[0], 10, 64)
	return p
}

// Follow delivers each line stored from now on. It restarts its consumer
// after errors, from the line after the last one delivered, and from the
// start of the stream when the epoch changed.
//
// deliver runs on a goroutine of its own, fed through a buffer, so the
// subscription's goroutine only decodes: heartbeats and flow control are
// never held up behind deliver, and Entry.More tells deliver exactly when
// lines are waiting in that buffer (the server's pending count alone says 0
// while the client holds a backlog).
func (w *LiveWindow) Follow(ctx context.Context, deliver func(livelog.Entry)) error {
	// lines is never closed: a callback of a stopped subscription may still
	// run, and it must not send on a closed channel. quit ends both sides.
	lines := make(chan livelog.Entry, followBuffer)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case e := <-lines:
				e.More = e.More || len(lines) > 0
				deliver(e)
			case <-quit:
				return
			}
		}
	}()
	defer func() {
		close(quit)
		<-done
	}()
	var last atomic.Uint64 // written by the consumer's goroutine
	_, followed := w.current()
	for ctx.Err() == nil {
		s, epoch := w.current()
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{LiveLogSubjects}, DeliverPolicy: jetstream.DeliverNewPolicy}
		switch {
		case epoch != followed:
			cfg.DeliverPolicy = jetstream.DeliverAllPolicy
			followed = epoch
			last.Store(0)
		case last.Load() > 0:
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last.Load()+1
		}
		err := w.follow(ctx, s, cfg, func(m jetstream.Msg) {
			md, err := m.Metadata()
			if err != nil {
				return
			}
			last.Store(md.Sequence.Stream)
			select {
			case lines <- livelog.Entry{DeviceID: strings.TrimPrefix(m.Subject(), LiveLogSubjectPrefix),
				Seq: md.Sequence.Stream, Prev: prevOf(m.Headers()), Epoch: epoch, Body: m.Data(), More: md.NumPending > 0}:
			case <-quit:
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		w.log.Warn("live-log feed restarting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if _, _, err := w.refresh(ctx); err != nil {
			w.log.Warn("live-log stream unavailable", "err", err)
		}
	}
	return nil
}

// followBuffer is how many lines may wait between the subscription and
// deliver. When it is full the subscription waits, and the server holds the
// rest (flow control of the pull): nothing is dropped.
const followBuffer = 1024

// follow consumes until ctx ends, the consumer fails, or the stream's epoch
// changes.
func (w *LiveWindow) follow(ctx context.Context, s jetstream.Stream, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg)) error {
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	failed := make(chan error, 1)
	cc, err := cons.Consume(fn, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
			errors.Is(err, jetstream.ErrOrderConsumerUsedAsFetch) {
			select {
			case failed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return err
	}
	defer cc.Stop()
	_, epoch := w.current()
	tick := time.NewTicker(streamCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case <-tick.C:
			if err := w.check(ctx, s, epoch); err != nil {
				return err
			}
		}
	}
}

// check reads s's state: an error ends the follow when the stream is gone
// or was recreated (another epoch); otherwise s is trimmed if it must be.
func (w *LiveWindow) check(ctx context.Context, s jetstream.Stream, epoch string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return err
	case err != nil:
		return nil // the next check reads again
	case epochOf(info) != epoch:
		return errors.New("the live-log stream was recreated")
	}
	if err := trim(ctx, s, info); err != nil && ctx.Err() == nil {
		w.log.Debug("live-log window not trimmed", "err", err)
	}
	return nil
}
