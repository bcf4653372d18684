package coap

import (
	"context"
	"log/slog"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
)

// Ingester is what the driver needs from the domain (device.Service).
type Ingester interface {
	Ingest(ctx context.Context, u device.Uplink) (device.Downlink, error)
	ReportMalformed(ctx context.Context, deviceID, reason string)
	PSK(ctx context.Context, identity string) ([]byte, error)
}

var _ Ingester = (*device.Service)(nil)

// UplinkPath is the one resource: POST /uplink.
const UplinkPath = "uplink"

// codeOf maps domain error codes to CoAP response codes: the one table.
var codeOf = map[domain.Code]codes.Code{
	domain.CodeInvalid:         codes.BadRequest,
	domain.CodeUnauthenticated: codes.Unauthorized,
	domain.CodeNotFound:        codes.Unauthorized, // never tell which devices exist
	domain.CodeTooLarge:        codes.RequestEntityTooLarge,
	domain.CodeUnavailable:     codes.ServiceUnavailable,
	domain.CodeExhausted:       codes.ServiceUnavailable,
}

// request is a CoAP request as both transports see it.
type request struct {
	code    codes.Code
	path    string
	format  int32 // -1 when absent
	block1  bool
	payload []byte
	dtlsID  string // the PSK identity on DTLS; "" on plain UDP
}

// response is what to answer: a code, a body, and for 4.13 the Size1 hint.
type response struct {
	code   codes.Code
	body   []byte
	text   bool // body is a diagnostic text
	result string
}

func diag(code codes.Code, result, text string) response {
	return response{code: code, body: []byte(text), text: true, result: result}
}

// handle decides the answer to one request. It is the only place that knows
// the resource; the UDP and DTLS servers only move bytes.
func (s *Server) handle(ctx context.Context, r request) response {
	start := time.Now()
	resp := s.decide(ctx, r)
	s.metrics.uplinks.WithLabelValues(resp.result).Inc()
	s.metrics.latency.Observe(time.Since(start).Seconds())
	return resp
}

func (s *Server) decide(ctx context.Context, r request) response {
	switch {
	case r.path != UplinkPath:
		return diag(codes.NotFound, "not_found", "no such resource; POST /uplink")
	case r.code != codes.POST:
		return diag(codes.MethodNotAllowed, "bad_method", "use POST")
	case r.block1 || len(r.payload) > device.MaxUplinkBytes:
		return diag(codes.RequestEntityTooLarge, "too_large", "uplink body over 1152 bytes")
	case r.format != -1 && r.format != int32(message.AppOctets):
		return diag(codes.UnsupportedMediaType, "bad_format", "content-format must be application/octet-stream (42) or absent")
	}
	u, err := DecodeUplink(r.payload)
	if err != nil {
		id := PeekDeviceID(r.payload)
		if r.dtlsID != "" {
			id = r.dtlsID
		}
		s.ingest.ReportMalformed(ctx, id, err.Error())
		return diag(codes.BadRequest, "malformed", err.Error())
	}
	if r.dtlsID != "" {
		ctx = device.WithPSKIdentity(ctx, r.dtlsID)
	}
	dl, err := s.ingest.Ingest(ctx, u)
	if err != nil {
		code, ok := codeOf[domain.ErrorCode(err)]
		if !ok {
			code = codes.InternalServerError
		}
		if code == codes.InternalServerError || code == codes.ServiceUnavailable {
			s.log.Error("uplink failed", "device", u.DeviceID, "err", err)
		}
		return diag(code, resultOf(code), domain.ErrorMessage(err))
	}
	body, err := EncodeDownlink(dl)
	if err != nil {
		s.log.Error("downlink does not encode; answering empty", "device", u.DeviceID, "err", err)
		body = nil
	}
	return response{code: codes.Changed, body: body, result: "ok"}
}

func resultOf(c codes.Code) string {
	switch c {
	case codes.BadRequest:
		return "invalid"
	case codes.Unauthorized:
		return "unauthorized"
	case codes.RequestEntityTooLarge:
		return "too_large"
	case codes.ServiceUnavailable:
		return "unavailable"
	}
	return "internal"
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
