package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/liveplane/liveplane/internal/domain"
)

// Principal is who a call acts for.
type Principal struct {
	Admin     bool
	AccountID string // set for account API keys
	KeyID     string
}

// CanSee reports whether p may read or act on account id.
func (p Principal) CanSee(id string) bool { return p.Admin || p.AccountID == id }

type principalKey struct{}

// WithPrincipal returns ctx carrying p; drivers set it after authenticating.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Token prefixes make a leaked token recognisable (secret scanners) and tell
// the verifier which table to look in.
const (
	adminTokenPrefix  = "lpa_"
	apiKeyTokenPrefix = "lpk_"
)

func newSecret(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is what the store keeps instead of a token. Tokens carry 256 bits
// of entropy, so a fast hash is enough and a lookup by hash leaks nothing.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authenticate resolves a bearer token to a principal. Missing, malformed,
// unknown and revoked tokens all get the same CodeUnauthenticated answer.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	const op = "account.Authenticate"
	deny := domain.Errorf(domain.CodeUnauthenticated, op, "missing or invalid token")
	if len(token) > 128 {
		return Principal{}, deny
	}
	hash := HashToken(token)
	switch {
	case strings.HasPrefix(token, adminTokenPrefix):
		ok, err := s.store.AdminTokenExists(ctx, hash)
		if err != nil {
			return Principal{}, domain.Wrap(op, err)
		}
		if !ok {
			return Principal{}, deny
		}
		return Principal{Admin: true}, nil
	case strings.HasPrefix(token, apiKeyTokenPrefix):
		k, err := s.store.APIKeyByHash(ctx, hash)
		if domain.Is(err, domain.CodeNotFound) {
			return Principal{}, deny
		}
		if err != nil {
			return Principal{}, domain.Wrap(op, err)
		}
		if k.Revoked() {
			return Principal{}, deny
		}
		return Principal{AccountID: k.AccountID, KeyID: k.ID}, nil
	}
	return Principal{}, deny
}

// EnsureAdminToken creates the installation's admin token when none exists
// and returns it; it returns "" when one already exists (it is shown once).
func (s *Service) EnsureAdminToken(ctx context.Context) (string, error) {
	const op = "account.EnsureAdminToken"
	exists, err := s.store.AnyAdminToken(ctx)
	if err != nil || exists {
		return "", domain.Wrap(op, err)
	}
	token := newSecret(adminTokenPrefix)
	err = s.store.Update(ctx, func(tx Tx) error {
		return tx.InsertAdminToken(ctx, domain.NewID(), HashToken(token))
	})
	if domain.Is(err, domain.CodeConflict) { // another replica won the race
		return "", nil
	}
	if err != nil {
		return "", domain.Wrap(op, err)
	}
	return token, nil
}
