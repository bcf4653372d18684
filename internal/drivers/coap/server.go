// Package coap is the device driver: CoAP over UDP and DTLS-PSK, one
// resource (POST /uplink), protobuf bodies decoded here and handed to the
// domain, domain error codes mapped to CoAP codes in one table.
package coap

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Server.
type Options struct {
	Ingest     Ingester
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// ExchangeLifetime is how long an answer is kept for retransmissions
	// (and so how long an idle peer's state lives). Default 247 s, RFC 7252.
	ExchangeLifetime time.Duration
	// MaxExchanges bounds that state; the oldest is evicted. Default 262,144.
	MaxExchanges int
	// MaxInFlight bounds requests being processed; beyond it datagrams are
	// dropped (the device retransmits). Default 8,192.
	MaxInFlight int
}

// Server answers CoAP requests on UDP (ServeUDP) and DTLS (ServeDTLS).
type Server struct {
	ingest   Ingester
	log      *slog.Logger
	metrics  *metrics
	ex       *exchanges
	inflight chan struct{}
	mid      atomic.Uint32
	wg       sync.WaitGroup
}

func New(o Options) *Server {
	if o.ExchangeLifetime <= 0 {
		o.ExchangeLifetime = 247 * time.Second
	}
	if o.MaxExchanges <= 0 {
		o.MaxExchanges = 1 << 18
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 8192
	}
	s := &Server{ingest: o.Ingest, log: o.Log, ex: newExchanges(o.ExchangeLifetime, o.MaxExchanges),
		inflight: make(chan struct{}, o.MaxInFlight)}
	if s.log == nil {
		s.log = discard()
	}
	s.mid.Store(rand.Uint32())
	s.metrics = newMetrics(o.Registerer, func() float64 { return float64(s.ex.sessions()) })
	return s
}

// Sessions is the number of peers with live exchange state.
func (s *Server) Sessions() int { return s.ex.sessions() }

// ServeUDP answers datagrams on conn until ctx ends, then waits for the
// requests in flight (their answers are still sent) and returns.
func (s *Server) ServeUDP(ctx context.Context, conn *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	defer s.wg.Wait()
	buf := make([]byte, 64<<10) // any datagram fits, so oversize is seen, not truncated
	for {
		n, peer, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.datagram(ctx, conn, peer, buf[:n])
	}
}

// maxOptions bounds the options of a request; more is garbage.
const maxOptions = 32

var optionBufs = sync.Pool{New: func() any { o := make(message.Options, 0, maxOptions); return &o }}

func (s *Server) datagram(ctx context.Context, conn *net.UDPConn, peer netipAddrPort, b []byte) {
	b = append([]byte(nil), b...) // the read buffer is reused; the request outlives it
	// The options are read only here (parseRequest copies what it needs),
	// so their array (1 KiB) goes back to the pool when this returns.
	opts := optionBufs.Get().(*message.Options)
	m := message.Message{Options: (*opts)[:0]}
	defer func() {
		clear((*opts)[:cap(*opts)]) // no references into old datagrams
		optionBufs.Put(opts)
	}()
	if _, err := coder.DefaultCoder.Decode(b, &m); err != nil {
		s.metrics.dropped.WithLabelValues("garbage").Inc()
		return
	}
	if m.Type == message.Acknowledgement || m.Type == message.Reset {
		return
	}
	if m.Code == codes.Empty { // CoAP ping: answer with a reset
		if m.Type == message.Confirmable {
			s.send(conn, peer, message.Message{Type: message.Reset, MessageID: m.MessageID, Code: codes.Empty})
		}
		return
	}
	if m.Code < codes.GET || m.Code > 31 { // not a request
		s.metrics.dropped.WithLabelValues("not_request").Inc()
		return
	}
	k := exKey{peer: peerKeyOf(peer), mid: uint16(m.MessageID)}
	resp, first := s.ex.claim(k, time.Now())
	if !first {
		if resp != nil {
			s.metrics.uplinks.WithLabelValues("retransmit").Inc()
			conn.WriteToUDPAddrPort(resp, peer)
		}
		return
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		s.metrics.dropped.WithLabelValues("overload").Inc()
		s.ex.done(k, nil)
		return
	}
	r, bad := parseRequest(&m, b)
	m.Options = nil
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.inflight }()
		var res response
		if bad != nil {
			res = *bad
			s.metrics.uplinks.WithLabelValues(res.result).Inc()
		} else {
			res = s.handle(context.WithoutCancel(ctx), r)
		}
		out := s.reply(&m, res)
		s.ex.done(k, out)
		if out != nil {
			conn.WriteToUDPAddrPort(out, peer)
		}
	}()
}

// reply encodes the answer: piggybacked in the ACK for a CON request, a NON
// response (with a new message id) for a NON request.
func (s *Server) reply(req *message.Message, res response) []byte {
	m := message.Message{Code: res.code, Token: req.Token, Payload: res.body}
	if req.Type == message.Confirmable {
		m.Type, m.MessageID = message.Acknowledgement, req.MessageID
	} else {
		m.Type, m.MessageID = message.NonConfirmable, int32(uint16(s.mid.Add(1)))
	}
	buf := make([]byte, 64)
	if !res.text && len(res.body) > 0 {
		m.Options, _, _ = m.Options.SetContentFormat(buf, message.AppOctets)
	}
	if res.code == codes.RequestEntityTooLarge {
		m.Options, _, _ = m.Options.SetUint32(buf[8:], message.Size1, 1152)
	}
	n, err := coder.DefaultCoder.Size(m)
	if err != nil {
		return nil
	}
	out := make([]byte, n)
	if _, err := coder.DefaultCoder.Encode(m, out); err != nil {
		return nil
	}
	return out
}

func (s *Server) send(conn *net.UDPConn, peer netipAddrPort, m message.Message) {
	out := make([]byte, 4)
	if n, err := coder.DefaultCoder.Encode(m, out); err == nil {
		conn.WriteToUDPAddrPort(out[:n], peer)
	}
}
