package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// Relay tickets let the Live Logs tab follow a device through `liveplane
// relay` (docs/relay.md, "Console sessions"). The session cookie never goes
// to the relay: it is host-only and SameSite=Strict (a relay on another host
// would not get it), it is worth the whole account for 12 h, and a cookie on a
// WebSocket invites cross-site WebSocket hijacking. Instead the page asks
// serve (session + CSRF) for a ticket:
//
//	version(1) | expires unix ms(8) | session id(16) | ticket id(16) | len(1) | device id | token
//
// sealed with the cookie's AEAD under another associated data, so only serve
// can read it and the relay learns nothing (not even the API key inside). It
// is good for one device, TicketTTL, and one connection. The page sends it as
// the `ticket.` WebSocket subprotocol; the relay hands it back to serve
// (POST /console/tickets/verify with its service token), and serve checks it
// then and there: seal, expiry, device, first use, session not signed out
// here, key not revoked, device the key's.

const (
	ticketVersion = 2
	ticketHdrLen  = 1 + 8 + sidLen + 16 + 1
	// TicketTTL is how long a relay ticket is good for; the page asks for
	// one right before each connection attempt.
	TicketTTL = 30 * time.Second
	// maxUsedTickets bounds the single-use memory; past it, new tickets are
	// refused until old ones expire (503: retry).
	maxUsedTickets = 100_000
)

var ticketAD = []byte("relay ticket")

// Devices tells which account owns a device (device.Service.Owner):
// CodeNotFound for an unknown device.
type Devices interface {
	Owner(ctx context.Context, deviceID string) (string, error)
}

type ticket struct {
	expires time.Time
	sid     [sidLen]byte
	tid     [16]byte
	device  string
	token   string
}

func (k *sealer) sealTicket(t ticket) string {
	plain := make([]byte, ticketHdrLen, ticketHdrLen+len(t.device)+len(t.token))
	plain[0] = ticketVersion
	binary.BigEndian.PutUint64(plain[1:], uint64(t.expires.UnixMilli()))
	copy(plain[9:], t.sid[:])
	copy(plain[9+sidLen:], t.tid[:])
	plain[ticketHdrLen-1] = byte(len(t.device))
	plain = append(append(plain, t.device...), t.token...)
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, ticketAD))
}

var errTicket = errors.New("ticket malformed, forged or expired")

// openTicket never panics on any input.
func (k *sealer) openTicket(value string, now time.Time) (ticket, error) {
	ns := k.aead.NonceSize()
	maxLen := base64.RawURLEncoding.EncodedLen(ns + ticketHdrLen + 255 + MaxTokenLen + k.aead.Overhead())
	if value == "" || len(value) > maxLen {
		return ticket{}, errTicket
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < ns+k.aead.Overhead()+ticketHdrLen {
		return ticket{}, errTicket
	}
	plain, err := k.aead.Open(nil, raw[:ns], raw[ns:], ticketAD)
	if err != nil || len(plain) < ticketHdrLen || plain[0] != ticketVersion {
		return ticket{}, errTicket
	}
	var t ticket
	t.expires = time.UnixMilli(int64(binary.BigEndian.Uint64(plain[1:])))
	copy(t.sid[:], plain[9:])
	copy(t.tid[:], plain[9+sidLen:])
	n := int(plain[ticketHdrLen-1])
	if len(plain) < ticketHdrLen+n+1 {
		return ticket{}, errTicket
	}
	t.device = string(plain[ticketHdrLen : ticketHdrLen+n])
	t.token = string(plain[ticketHdrLen+n:])
	if !now.Before(t.expires) {
		return ticket{}, errTicket
	}
	return t, nil
}

// mintTicket: POST /console/tickets {"deviceId"} with the session and its
// CSRF header -> {"ticket","expires"}. Whether the device is the session's
// is checked when the ticket is used, not here (it may change meanwhile).
func (c *Console) mintTicket(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		httpError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	s, ok := c.sessionCSRF(w, r)
	if !ok {
		return
	}
	var body struct {
		DeviceID string `json:"deviceId"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil || !domain.ValidID(body.DeviceID) {
		httpError(w, http.StatusBadRequest, "body: want {\"deviceId\":\"…\"}")
		return
	}
	exp := c.opt.Now().Add(TicketTTL)
	if exp.After(s.expires) {
		exp = s.expires
	}
	t := ticket{expires: exp, sid: s.sid, device: body.DeviceID, token: s.token}
	_, _ = rand.Read(t.tid[:])
	writeJSON(w, map[string]any{"ticket": c.seal.sealTicket(t), "expires": exp.UTC()})
}

// verifyTicket: POST /console/tickets/verify {"ticket","deviceId"} with
// `Authorization: Bearer RELAY_SERVICE_TOKEN`. 204: the browser may watch
// the device. 401: the ticket is bad, expired, used, signed out or its key
// revoked. 404: unknown device or another account's. 403: not a relay.
// 503: cannot check now.
func (c *Console) verifyTicket(w http.ResponseWriter, r *http.Request) {
	if !c.relayToken(r.Header.Get("Authorization")) {
		httpError(w, http.StatusForbidden, "only a liveplane relay (its service token) may verify tickets")
		return
	}
	var body struct {
		Ticket   string `json:"ticket"`
		DeviceID string `json:"deviceId"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&body); err != nil {
		httpError(w, http.StatusBadRequest, "body: want {\"ticket\":\"…\",\"deviceId\":\"…\"}")
		return
	}
	now := c.opt.Now()
	t, err := c.seal.openTicket(body.Ticket, now)
	if err == nil && t.device != body.DeviceID {
		err = errors.New("ticket for another device")
	}
	if err == nil && c.isRevoked(session{sid: t.sid}) {
		err = errors.New("signed out")
	}
	if err != nil {
		httpError(w, http.StatusUnauthorized, "bad, expired or used ticket: ask the console for a new one")
		return
	}
	err = c.useTicket(t, now)
	if err == nil {
		err = c.useTicketShared(r.Context(), t)
	}
	switch err {
	case errTicketUsed:
		httpError(w, http.StatusUnauthorized, "bad, expired or used ticket: ask the console for a new one")
		return
	case errTicketsFull:
		httpError(w, http.StatusServiceUnavailable, "too many tickets in flight, retry")
		return
	case errTicketsUnchecked:
		httpError(w, http.StatusServiceUnavailable, "ticket use cannot be checked now, retry")
		return
	}
	p, err := c.opt.Auth.Authenticate(r.Context(), t.token)
	if domain.Is(err, domain.CodeUnauthenticated) {
		httpError(w, http.StatusUnauthorized, "the session's key is no longer valid: sign in again")
		return
	}
	if err != nil {
		c.opt.Logger.Warn("console ticket: authentication failed", "err", err)
		httpError(w, http.StatusServiceUnavailable, "authentication unavailable, retry")
		return
	}
	owner, err := c.opt.Devices.Owner(r.Context(), t.device)
	switch {
	case domain.Is(err, domain.CodeNotFound), domain.Is(err, domain.CodeInvalid), err == nil && !p.CanSee(owner):
		httpError(w, http.StatusNotFound, "unknown device")
	case err != nil:
		c.opt.Logger.Warn("console ticket: device lookup failed", "err", err)
		httpError(w, http.StatusServiceUnavailable, "device lookup unavailable, retry")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

var (
	errTicketUsed  = errors.New("ticket already used")
	errTicketsFull = errors.New("too many live tickets")
	// errTicketsUnchecked: Shared could not say whether the ticket was used.
	errTicketsUnchecked = errors.New("ticket use cannot be checked")
)

// useTicket records t as used here until it expires; useTicketShared then
// makes single use hold across the replicas (Options.Shared).
func (c *Console) useTicket(t ticket, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.used[t.tid]; ok {
		return errTicketUsed
	}
	if len(c.used) >= maxUsedTickets {
		for id, exp := range c.used {
			if !now.Before(exp) {
				delete(c.used, id)
			}
		}
		if len(c.used) >= maxUsedTickets {
			return errTicketsFull
		}
	}
	c.used[t.tid] = t.expires
	if len(c.used)%1024 == 0 {
		for id, exp := range c.used {
			if !now.Before(exp) {
				delete(c.used, id)
			}
		}
	}
	return nil
}

func (c *Console) relayToken(authz string) bool {
	scheme, tok, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	ok2 := 0
	for _, t := range c.relayTokens {
		ok2 |= subtle.ConstantTimeCompare(h[:], t[:])
	}
	return ok2 == 1
}
