package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// The session cookie is sealed, not looked up: AES-256-GCM over
//
//	version(1) | issued unix s(8) | expires unix s(8) | session id(16) | token
//
// with a key derived from the console secret (DATA_DIR/console.key). Every
// process that holds the secret accepts the cookie, so restarts keep sessions,
// and so do replicas given the same secret. GCM makes it tamper-evident
// (a changed byte fails to open) and keeps the bearer token inside secret
// from anyone who reads the cookie jar but not the key.
//
// The CSRF token is bound to the session: HMAC-SHA256(csrf key, session id).
// The page learns it from the sign-in answer or GET /console/session (a
// same-origin read a cross-site page cannot make) and sends it in the
// X-CSRF-Token header; a forged cross-site request carries the cookie but
// cannot know the header.

const (
	cookieVersion = 1
	sidLen        = 16
	headerLen     = 1 + 8 + 8 + sidLen
	// MaxTokenLen bounds the token a session may hold (tokens are ~50 bytes;
	// the cookie must stay under the 4 KiB browsers keep).
	MaxTokenLen = 1024
	// MinSecretLen is the shortest console secret accepted.
	MinSecretLen = 32
)

var (
	errCookieMalformed = errors.New("session cookie malformed")
	errCookieForged    = errors.New("session cookie does not open with this server's key")
	errCookieExpired   = errors.New("session expired")
)

// session is what a cookie carries.
type session struct {
	issued  time.Time
	expires time.Time
	sid     [sidLen]byte
	token   string
}

// sealer seals and opens session cookies and derives CSRF tokens.
type sealer struct {
	aead    cipher.AEAD
	csrfKey []byte
}

func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < MinSecretLen {
		return nil, errors.New("console secret too short: want at least 32 bytes")
	}
	encKey := derive(secret, "liveplane console cookie v1")
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, csrfKey: derive(secret, "liveplane console csrf v1")}, nil
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// seal returns the cookie value for s.
func (k *sealer) seal(s session) string {
	plain := make([]byte, headerLen, headerLen+len(s.token))
	plain[0] = cookieVersion
	binary.BigEndian.PutUint64(plain[1:], uint64(s.issued.Unix()))
	binary.BigEndian.PutUint64(plain[9:], uint64(s.expires.Unix()))
	copy(plain[17:], s.sid[:])
	plain = append(plain, s.token...)
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, []byte("session")))
}

// open decodes and authenticates a cookie value and checks its expiry
// against now. Any change to the value yields errCookieForged or
// errCookieMalformed; it never panics on any input.
func (k *sealer) open(value string, now time.Time) (session, error) {
	maxLen := base64.RawURLEncoding.EncodedLen(k.aead.NonceSize() + headerLen + MaxTokenLen + k.aead.Overhead())
	if value == "" || len(value) > maxLen {
		return session{}, errCookieMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead()+headerLen {
		return session{}, errCookieMalformed
	}
	ns := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:ns], raw[ns:], []byte("session"))
	if err != nil {
		return session{}, errCookieForged
	}
	if len(plain) < headerLen || plain[0] != cookieVersion {
		return session{}, errCookieMalformed
	}
	var s session
	s.issued = time.Unix(int64(binary.BigEndian.Uint64(plain[1:])), 0)
	s.expires = time.Unix(int64(binary.BigEndian.Uint64(plain[9:])), 0)
	copy(s.sid[:], plain[17:headerLen])
	s.token = string(plain[headerLen:])
	if s.token == "" || len(s.token) > MaxTokenLen {
		return session{}, errCookieMalformed
	}
	if !now.Before(s.expires) {
		return session{}, errCookieExpired
	}
	return s, nil
}

// csrf is the token the page must send with every state-changing request of
// the session sid.
func (k *sealer) csrf(sid [sidLen]byte) string {
	m := hmac.New(sha256.New, k.csrfKey)
	m.Write(sid[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares in constant time.
func (k *sealer) checkCSRF(sid [sidLen]byte, got string) bool {
	if got == "" {
		return false
	}
	return hmac.Equal([]byte(k.csrf(sid)), []byte(got))
}

func newSID() [sidLen]byte {
	var b [sidLen]byte
	_, _ = rand.Read(b[:])
	return b
}
