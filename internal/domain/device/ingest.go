package device

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// Metrics counts what ingestion decides; the composition root binds it to
// Prometheus. Nil means nothing is counted.
type Metrics interface {
	Duplicate()
}

type ingester struct {
	s         *Service
	writer    Writer
	live      LiveLog
	log       *slog.Logger
	metrics   Metrics
	devices   *deviceCache
	replies   *replies
	enrolling enrolments
	provKeys  provKeyCache
}

// Windows of the ingestion caches.
const (
	deviceCacheTTL = 5 * time.Second
	deviceCacheMax = 1 << 18
	// ReplyWindow outlives CoAP's EXCHANGE_LIFETIME (247 s), so every
	// retransmission of a CON uplink meets its cached reply.
	ReplyWindow  = 5 * time.Minute
	replyMaxKeys = 1 << 18
)

func newIngester(s *Service, o Options) *ingester {
	in := &ingester{
		s: s, writer: o.Writer, live: o.LiveLog, log: o.Log, metrics: o.Metrics,
		devices: newDeviceCache(s.store, deviceCacheTTL, deviceCacheMax),
		replies: newReplies(ReplyWindow, replyMaxKeys),
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.live == nil {
		in.live = discardLog{}
	}
	return in
}

func (in *ingester) forget(id string) { in.devices.forget(id) }

type discardLog struct{}

func (discardLog) Publish(string, Line) {}

type pskIdentityKey struct{}

// WithPSKIdentity marks ctx as a DTLS session whose PSK handshake proved the
// identity (a device id); the uplink then needs no credential.
func WithPSKIdentity(ctx context.Context, identity string) context.Context {
	return context.WithValue(ctx, pskIdentityKey{}, identity)
}

// Ingest takes one uplink: authenticate it by its credential (or the DTLS
// identity; never by source address), validate it, then broadcast its
// live-log line and persist it (the broadcast never waits for the database),
// and answer with the device's downlink slot. A duplicate Key within
// ReplyWindow is not stored again and gets the first reply.
//
// Errors: CodeUnauthenticated (unknown, disabled or wrong credential),
// CodeInvalid (the message names the field), CodeUnavailable (neither the
// database nor the spool could take it; the device should retry).
func (s *Service) Ingest(ctx context.Context, u Uplink) (Downlink, error) {
	const op = "device.Ingest"
	in := s.ingest
	if in.writer == nil {
		return Downlink{}, domain.Errorf(domain.CodeInternal, op, "ingestion is not configured")
	}
	var enrolment *enrolled
	var d Device
	_, dtls := ctx.Value(pskIdentityKey{}).(string)
	if !dtls && u.Credential == "" && u.ProvisioningKey != "" {
		// Enrolment: nothing is created from an invalid uplink.
		if err := u.Validate(); err != nil {
			return Downlink{}, err
		}
		e, err := in.enrol(ctx, op, u)
		if err != nil {
			return Downlink{}, err
		}
		enrolment, d = &e, e.d
	} else {
		var err error
		if d, err = in.authenticate(ctx, op, u); err != nil {
			return Downlink{}, err
		}
		// The device cache's copy of the id, not the one just decoded:
		// the reply window and the writer's queue hold a key per uplink,
		// and at 5,000 uplinks/s a string per key was a quarter of the
		// objects on the heap, marked by every GC cycle.
		u.DeviceID = d.ID
		if err := u.Validate(); err != nil {
			in.errorLine(d.ID, "Rejected uplink #%d: %s", u.UplinkCount, domain.ErrorMessage(err))
			return Downlink{}, err
		}
	}
	u.ProvisioningKey = ""
	now := s.clock.Now()
	k := u.Key()
	e, lead := in.replies.begin(k, now)
	if !lead {
		if in.metrics != nil {
			in.metrics.Duplicate()
		}
		dl, err := in.replies.wait(ctx, e)
		return withCredentials(dl, enrolment), domain.Wrap(op, err)
	}
	dl, err := in.take(ctx, d, u, now)
	in.replies.finish(k, e, dl, err)
	return withCredentials(dl, enrolment), domain.Wrap(op, err)
}

// withCredentials adds an enrolled device's key and PSK to its reply; every
// copy of the enrolling uplink (which passed enrol itself) gets them.
func withCredentials(dl Downlink, e *enrolled) Downlink {
	if e != nil {
		dl.DeviceKey, dl.PSK = e.key, e.psk
	}
	return dl
}

func (in *ingester) take(ctx context.Context, d Device, u Uplink, now time.Time) (Downlink, error) {
	u.Credential = ""
	stored := u
	if len(u.Config) > 0 {
		stored.Config = ReportOf(u).Config // bad entries are marked, not stored
	}
	in.live.Publish(d.ID, uplinkLine(stored, now))
	if err := in.writer.Write(ctx, Record{Uplink: stored, ReceivedAt: now}); err != nil {
		return Downlink{}, err
	}
	// The seam for the reconciliation flow: what the device should do next.
	dl, err := in.s.downlinks.Pending(ctx, d, u)
	if err != nil {
		// The uplink is stored; an empty slot is a safe answer (the next
		// uplink gets the command), a failed reply would only cause resends.
		in.log.Warn("downlink lookup failed; answering empty", "device", d.ID, "err", err)
		return Downlink{}, nil
	}
	return dl, nil
}

func (in *ingester) authenticate(ctx context.Context, op string, u Uplink) (Device, error) {
	deny := denied(op)
	if !domain.ValidID(u.DeviceID) {
		return Device{}, deny
	}
	identity, dtls := ctx.Value(pskIdentityKey{}).(string)
	if dtls && identity != u.DeviceID {
		return Device{}, deny
	}
	if !dtls && u.Credential == "" {
		return Device{}, deny
	}
	d, err := in.devices.get(ctx, u.DeviceID)
	if domain.Is(err, domain.CodeNotFound) {
		return Device{}, deny
	}
	if err != nil {
		return Device{}, domain.Wrap(op, err)
	}
	if d.Disabled || !dtls && !keyMatches(u.Credential, d.KeyHash) {
		return Device{}, deny
	}
	return d, nil
}

// PSK returns the DTLS pre-shared key of an enabled device; the DTLS driver
// calls it during the handshake with the identity the client presented.
func (s *Service) PSK(ctx context.Context, identity string) ([]byte, error) {
	const op = "device.PSK"
	deny := domain.Errorf(domain.CodeUnauthenticated, op, "unknown device")
	if !domain.ValidID(identity) {
		return nil, deny
	}
	d, err := s.ingest.devices.get(ctx, identity)
	if domain.Is(err, domain.CodeNotFound) || err == nil && d.Disabled {
		return nil, deny
	}
	if err != nil {
		return nil, domain.Wrap(op, err)
	}
	psk, err := s.psks.derive(ctx, d.ID, d.KeyGeneration)
	return []byte(psk), err
}

// ReportMalformed puts an error line in a device's live log when a message
// claiming to be from it could not be decoded. Nothing happens for ids that
// are not devices, so garbage cannot create log streams.
func (s *Service) ReportMalformed(ctx context.Context, deviceID, reason string) {
	if !domain.ValidID(deviceID) {
		return
	}
	if _, err := s.ingest.devices.get(ctx, deviceID); err != nil {
		return
	}
	s.ingest.errorLine(deviceID, "Malformed uplink: %s", reason)
}

func (in *ingester) errorLine(deviceID, format string, a ...any) {
	in.live.Publish(deviceID, Line{
		DeviceID: deviceID, Timestamp: in.s.clock.Now(), Type: "error", Message: fmt.Sprintf(format, a...),
	})
}
