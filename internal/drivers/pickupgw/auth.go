package pickupgw

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// Authenticator resolves a token to who holds it (account.Service does).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (account.Principal, error)
}

// tokenOf finds the client's token, in order of preference:
//
//  1. Authorization: Bearer TOKEN (clients that can set headers);
//  2. Authorization: Basic, from URL userinfo: ws://TOKEN@host:3100 or
//     ws://NAME:TOKEN@host:3100 (the password when there is one). The stock
//     MPR client takes only a URL, and its WebSocket library turns userinfo
//     into this header, so this is how an unmodified mediator authenticates;
//  3. ?token=TOKEN in the URL, for clients that can do neither. URLs end up
//     in logs and proxies: prefer 1 or 2.
func tokenOf(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := cutPrefixFold(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	if b, ok := cutPrefixFold(h, "Basic "); ok {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b))
		if err != nil {
			return ""
		}
		user, pass, _ := strings.Cut(string(raw), ":")
		if pass != "" {
			return pass
		}
		return user
	}
	return r.URL.Query().Get("token")
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// authenticate returns the socket's client, or an HTTP status and message
// to refuse the upgrade with. A token is scoped to its account: the queues
// a socket sees are that account's. The admin token is refused: it belongs
// to no account, and a mediator should hold a key it can lose alone.
func (s *Server) authenticate(r *http.Request) (pickup.Client, int, string) {
	token := tokenOf(r)
	if token == "" {
		if s.opt.Open {
			return pickup.Client{}, 0, ""
		}
		return pickup.Client{}, http.StatusUnauthorized,
			"pickup gateway: a token is required (Authorization: Bearer, ws://TOKEN@host, or ?token=)"
	}
	if s.opt.Auth == nil {
		return pickup.Client{}, http.StatusUnauthorized, "pickup gateway: this gateway takes no tokens"
	}
	p, err := s.opt.Auth.Authenticate(r.Context(), token)
	switch {
	case domain.Is(err, domain.CodeUnauthenticated):
		return pickup.Client{}, http.StatusUnauthorized, "pickup gateway: missing or invalid token"
	case err != nil:
		s.log.Warn("pickup: authenticating a socket", "err", err)
		return pickup.Client{}, http.StatusServiceUnavailable, "pickup gateway: cannot check the token now; retry"
	case p.Admin || p.AccountID == "":
		return pickup.Client{}, http.StatusForbidden,
			"pickup gateway: the admin token belongs to no account; give each mediator an account API key"
	}
	return pickup.Client{Account: p.AccountID}, 0, ""
}
