package livews

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/livelog"
)

// Subprotocol is the one subprotocol the stream speaks; browsers offer it
// next to "bearer.TOKEN" (see docs/live-logs.md).
const Subprotocol = "liveplane.v1"

const bearerProtocolPrefix = "bearer."

// request is a parsed stream request.
type request struct {
	deviceID string
	open     livelog.Request
	token    string
	key      string // Sec-WebSocket-Key
	proto    bool   // the client offered Subprotocol
}

// refusal is an HTTP answer before the upgrade.
type refusal struct {
	status int
	msg    string
}

// parseRequest reads the query and the token. It never reads a token from
// the query string, and refuses a request that puts one there.
func parseRequest(r *http.Request) (request, *refusal) {
	bad := func(msg string) (request, *refusal) {
		return request{}, &refusal{http.StatusBadRequest, msg}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return bad("malformed query string")
	}
	for _, k := range []string{"token", "access_token", "bearer"} {
		if q.Has(k) {
			return bad("tokens never go in the URL: use Authorization: Bearer or the bearer.TOKEN subprotocol")
		}
	}
	var req request
	one := func(k string) (string, bool, *refusal) {
		v := q[k]
		switch len(v) {
		case 0:
			return "", false, nil
		case 1:
			return v[0], true, nil
		}
		return "", false, &refusal{http.StatusBadRequest, k + " given more than once"}
	}
	id, ok, rf := one("deviceId")
	if rf != nil {
		return request{}, rf
	}
	if !ok || !domain.ValidID(id) {
		return bad("deviceId: missing or not a valid device id")
	}
	req.deviceID = id
	last, hasLast, rf := one("last")
	if rf != nil {
		return request{}, rf
	}
	seq, hasSeq, rf := one("seq")
	if rf != nil {
		return request{}, rf
	}
	epoch, hasEpoch, rf := one("epoch")
	if rf != nil {
		return request{}, rf
	}
	switch {
	case hasSeq != hasEpoch:
		return bad("seq and epoch go together")
	case hasSeq && hasLast:
		return bad("last cannot be combined with seq and epoch")
	case hasLast:
		n, err := strconv.Atoi(last)
		if err != nil || n < 0 || n > livelog.MaxHistory {
			return bad("last: want a whole number from 0 to " + strconv.Itoa(livelog.MaxHistory))
		}
		req.open.Last = n
	case hasSeq:
		s, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return bad("seq: want a whole number")
		}
		if !validEpoch(epoch) {
			return bad("epoch: not an epoch this server issued")
		}
		req.open = livelog.Request{Resume: true, Seq: s, Epoch: epoch}
	}
	token, rf := tokenOf(r)
	if rf != nil {
		return request{}, rf
	}
	req.token = token
	return req, nil
}

// validEpoch accepts what a server could have issued: a short lowercase
// alphanumeric string. An epoch of another server is then simply not current.
func validEpoch(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// tokenOf returns the bearer token of the Authorization header or, failing
// that, of a "bearer.TOKEN" subprotocol. A client offering subprotocols
// must offer ours: the server must select one of those offered.
func tokenOf(r *http.Request) (string, *refusal) {
	var fromProto string
	offered := false
	ours := false
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			offered = true
			switch {
			case p == Subprotocol:
				ours = true
			case strings.HasPrefix(p, bearerProtocolPrefix) && fromProto == "":
				fromProto = p[len(bearerProtocolPrefix):]
			}
		}
	}
	if offered && !ours {
		return "", &refusal{http.StatusBadRequest, "offer the " + Subprotocol + " subprotocol"}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:]), nil
		}
		return "", nil // another scheme: no usable token, 401
	}
	return fromProto, nil
}

// originAllowed: requests without Origin come from non-browsers and pass;
// a browser's Origin must be listed (or the list holds "*").
func originAllowed(r *http.Request, allowed []string) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), o) {
			return true
		}
	}
	return false
}
