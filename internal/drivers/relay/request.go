package relay

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/liveplane/liveplane/internal/domain"
)

// Subprotocol is the stream's WebSocket subprotocol.
const Subprotocol = "liveplane.v1"

type query struct {
	device string
	start  Start
}

// parseQuery reads /device-logs' query with serve's rules: deviceId, then
// last=N or seq=S&epoch=E, never a token.
func parseQuery(v url.Values) (query, error) {
	for _, k := range []string{"token", "access_token", "bearer"} {
		if v.Has(k) {
			return query{}, errors.New("tokens never travel in URLs: use the Authorization header or the bearer. subprotocol")
		}
	}
	q := query{device: v.Get("deviceId")}
	if !domain.ValidID(q.device) {
		return query{}, errors.New("deviceId: missing or not a valid device id")
	}
	last, seq, epoch := v.Get("last"), v.Get("seq"), v.Get("epoch")
	if last != "" && (seq != "" || epoch != "") {
		return query{}, errors.New("last excludes seq and epoch")
	}
	if (seq == "") != (epoch == "") {
		return query{}, errors.New("seq and epoch come together")
	}
	if last != "" {
		n, err := strconv.Atoi(last)
		if err != nil || n < 0 || n > 1000 {
			return query{}, fmt.Errorf("last %q: want 0 to 1000", last)
		}
		q.start.Last = n
	}
	if seq != "" {
		s, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return query{}, fmt.Errorf("seq %q: want a number", seq)
		}
		if len(epoch) > 64 {
			return query{}, errors.New("epoch: too long")
		}
		q.start.Seq, q.start.Epoch = s, epoch
	}
	return q, nil
}

// credential reads the browser's credential: the Authorization header
// wins over a bearer. subprotocol, which wins over a ticket. subprotocol.
// The console's session cookie is no credential here (docs/relay.md).
// protos are the subprotocols offered; if any, liveplane.v1 must be one.
func credential(r *http.Request) (Credential, []string, error) {
	var protos []string
	var fromProto, ticket string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			protos = append(protos, p)
			if t, ok := strings.CutPrefix(p, "bearer."); ok && fromProto == "" {
				fromProto = t
			}
			if t, ok := strings.CutPrefix(p, "ticket."); ok && ticket == "" {
				ticket = t
			}
		}
	}
	if len(protos) > 0 && !contains(protos, Subprotocol) {
		return Credential{}, nil, errNoSubprotocol
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return Credential{}, nil, errors.New("malformed Authorization header: want Bearer KEY")
		}
		return Credential{Bearer: strings.TrimSpace(tok)}, protos, nil
	}
	if fromProto != "" {
		return Credential{Bearer: fromProto}, protos, nil
	}
	if ticket != "" {
		return Credential{Ticket: ticket}, protos, nil
	}
	return Credential{}, nil, errNoCredential
}

var errNoSubprotocol = errors.New("offer the liveplane.v1 subprotocol")

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// originAllowed: requests without Origin (non-browsers) pass; browsers'
// must be listed, or be the relay's own origin when the list is empty.
func (r *Relay) originAllowed(req *http.Request) bool {
	o := req.Header.Get("Origin")
	if o == "" {
		return true
	}
	if len(r.opts.Origins) == 0 {
		u, err := url.Parse(o)
		return err == nil && strings.EqualFold(u.Host, req.Host)
	}
	for _, a := range r.opts.Origins {
		if a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), o) {
			return true
		}
	}
	return false
}

func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
