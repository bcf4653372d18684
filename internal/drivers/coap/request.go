package coap

import (
	"net/netip"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
)

type netipAddrPort = netip.AddrPort

// Options this server understands. Any other critical (odd-numbered) option
// gets 4.02 Bad Option, as RFC 7252 §5.4.1 requires; elective ones are
// ignored.
var understood = map[message.OptionID]bool{
	message.URIHost: true, message.URIPort: true, message.URIPath: true, message.URIQuery: true,
	message.Accept: true, message.Block1: true, message.Block2: true,
}

// parseRequest reads what handle needs from a decoded request; a request
// this server cannot take at all gets its answer instead.
func parseRequest(m *message.Message, _ []byte) (request, *response) {
	r := request{code: m.Code, format: -1, payload: m.Payload}
	for _, o := range m.Options {
		if o.ID&1 == 1 && !understood[o.ID] {
			res := diag(codes.BadOption, "bad_option", "unsupported critical option")
			return r, &res
		}
		if o.ID == message.Block1 {
			r.block1 = true
		}
	}
	path, err := m.Options.Path()
	if err == nil && len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	r.path = path
	if cf, err := m.Options.ContentFormat(); err == nil {
		r.format = int32(cf)
	}
	return r, nil
}
