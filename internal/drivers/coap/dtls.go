package coap

import (
	"bytes"
	"context"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// DTLSIdleTimeout closes DTLS sessions without traffic; a sleepy device
// handshakes again when it wakes (or resumes, if its stack supports it).
const DTLSIdleTimeout = 2 * time.Minute

// DTLSConfig is the server's DTLS-PSK configuration: the client's PSK
// identity is a device id and its PSK is derived by the domain. Unknown or
// disabled devices fail the handshake.
func DTLSConfig(in Ingester) *piondtls.Config {
	return &piondtls.Config{
		PSK: func(identity []byte) ([]byte, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return in.PSK(ctx, string(identity))
		},
		PSKIdentityHint: []byte("liveplane"),
		CipherSuites: []piondtls.CipherSuiteID{
			piondtls.TLS_PSK_WITH_AES_128_CCM_8, piondtls.TLS_PSK_WITH_AES_128_CCM,
			piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256, piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256,
		},
		ExtendedMasterSecret: piondtls.RequestExtendedMasterSecret,
	}
}

// ListenDTLS binds a DTLS listener whose handshakes ask in for PSKs.
func ListenDTLS(addr string, in Ingester) (*coapnet.DTLSListener, error) {
	return coapnet.NewDTLSListener("udp", addr, DTLSConfig(in))
}

// ServeDTLS answers CoAP over DTLS on l until ctx ends. go-coap runs the
// sessions; its per-session caches are acceptable here because DTLS
// sessions are few and each already costs a handshake.
func (s *Server) ServeDTLS(ctx context.Context, l *coapnet.DTLSListener) error {
	srv := dtls.NewServer(
		options.WithContext(ctx),
		options.WithHandlerFunc(s.dtlsHandler),
		options.WithBlockwise(false, blockwise.SZX1024, time.Second),
		options.WithInactivityMonitor(DTLSIdleTimeout, func(cc *udpclient.Conn) { _ = cc.Close() }),
		options.WithErrors(func(err error) { s.log.Debug("coaps", "err", err) }),
	)
	stop := context.AfterFunc(ctx, srv.Stop)
	defer stop()
	return srv.Serve(l)
}

func (s *Server) dtlsHandler(w *responsewriter.ResponseWriter[*udpclient.Conn], r *pool.Message) {
	identity := ""
	if dc, ok := w.Conn().NetConn().(*piondtls.Conn); ok {
		if st, ok := dc.ConnectionState(); ok {
			identity = string(st.IdentityHint)
		}
	}
	body, _ := r.ReadBody()
	m := message.Message{Code: r.Code(), Options: r.Options(), Payload: body}
	req, bad := parseRequest(&m, nil)
	var res response
	switch {
	case bad != nil:
		res = *bad
	case identity == "":
		res = diag(codes.Unauthorized, "unauthorized", "no PSK identity")
	default:
		req.dtlsID = identity
		res = s.handle(r.Context(), req)
	}
	var opts []message.Option
	if res.code == codes.RequestEntityTooLarge {
		opts = append(opts, message.Option{ID: message.Size1, Value: []byte{0x04, 0x80}})
	}
	var d *bytes.Reader
	if len(res.body) > 0 {
		d = bytes.NewReader(res.body)
	}
	format := message.AppOctets
	if res.text {
		format = message.TextPlain
	}
	if d == nil {
		_ = w.SetResponse(res.code, format, nil, opts...)
		return
	}
	_ = w.SetResponse(res.code, format, d, opts...)
}
