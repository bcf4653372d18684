package device

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"sync"

	"github.com/liveplane/liveplane/internal/domain"
)

// keyPrefix makes a leaked device key recognisable.
const keyPrefix = "lpd_"

// PSKSecretName names the installation secret PSKs are derived from.
const PSKSecretName = "device-psk"

func newKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashKey is what the store keeps instead of a device key. Keys carry 256
// bits of entropy, so a fast hash is enough.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// keyMatches compares in constant time.
func keyMatches(key, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashKey(key)), []byte(hash)) == 1
}

// psks derives DTLS pre-shared keys: PSK = base64url(HMAC-SHA256(secret,
// "liveplane/device-psk/v1" | device id | key generation)). The server can
// recompute a device's PSK at every handshake, so no PSK is stored; a
// database dump alone reveals none unless it includes the secret row (see
// ARCHITECTURE.md). Bumping the key generation rotates the PSK.
type psks struct {
	store  Store
	mu     sync.Mutex
	secret []byte
}

func (p *psks) derive(ctx context.Context, deviceID string, generation int64) (string, error) {
	p.mu.Lock()
	secret := p.secret
	p.mu.Unlock()
	if secret == nil {
		s, err := p.store.Secret(ctx, PSKSecretName, func() []byte {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			return b
		})
		if err != nil {
			return "", domain.Wrap("device.psk", err)
		}
		p.mu.Lock()
		p.secret, secret = s, s
		p.mu.Unlock()
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("liveplane/device-psk/v1\x00" + deviceID + "\x00" + strconv.FormatInt(generation, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}
