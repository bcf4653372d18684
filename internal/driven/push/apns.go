package push

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// APNsOptions configure APNs.
type APNsOptions struct {
	KeyFile  string // the .p8 token-signing key
	KeyID    string
	TeamID   string
	Topic    string       // the app's bundle id
	Endpoint string       // default https://api.push.apple.com
	Client   *http.Client // default: 10s timeout, HTTP/2 (APNs speaks nothing else)
}

// APNs sends background notifications over HTTP/2 with token-based
// authentication: an ES256 JWT (kid = key id, iss = team id) that Apple
// wants refreshed at most every 20 minutes and at least every hour; it is
// reused for 40 minutes.
type APNs struct {
	endpoint, keyID, teamID, topic string
	client                         *http.Client
	key                            crypto.Signer

	mu     sync.Mutex
	jwt    string
	issued time.Time
}

// NewAPNs reads the key.
func NewAPNs(o APNsOptions) (*APNs, error) {
	b, err := os.ReadFile(o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("apns key: %w", err)
	}
	key, err := parseKey(b)
	if err != nil {
		return nil, fmt.Errorf("apns key %s: %w", o.KeyFile, err)
	}
	a := &APNs{endpoint: strings.TrimRight(o.Endpoint, "/"), keyID: o.KeyID, teamID: o.TeamID, topic: o.Topic,
		client: o.Client, key: key}
	if a.endpoint == "" {
		a.endpoint = "https://api.push.apple.com"
	}
	if a.client == nil {
		a.client = newClient(10 * time.Second)
	}
	if _, err := a.token(); err != nil { // an unusable key fails at start, not at the first push
		return nil, fmt.Errorf("apns key %s: %w", o.KeyFile, err)
	}
	return a, nil
}

func (a *APNs) token() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.jwt != "" && time.Since(a.issued) < 40*time.Minute {
		return a.jwt, nil
	}
	now := time.Now()
	t, err := signJWT(a.key, a.keyID, map[string]any{"iss": a.teamID, "iat": now.Unix()})
	if err != nil {
		return "", err
	}
	a.jwt, a.issued = t, now
	return t, nil
}

// Send sends a background (content-available) notification carrying the
// message id, collapsed per app so a queue of them shows as one.
func (a *APNs) Send(ctx context.Context, n pickup.Notification) error {
	token, err := a.token()
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	body, _ := json.Marshal(map[string]any{
		"aps":        map[string]any{"content-available": 1},
		"@type":      "https://didcomm.org/push-notifications-apns",
		"message_id": n.MessageID,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint+"/3/device/"+url.PathEscape(n.Token.Token),
		bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	req.Header.Set("Authorization", "bearer "+token)
	req.Header.Set("apns-topic", a.topic)
	req.Header.Set("apns-push-type", "background")
	req.Header.Set("apns-priority", "5")
	req.Header.Set("apns-collapse-id", "liveplane-new-messages")
	req.Header.Set("Content-Type", "application/json")
	resp, body, err := do(a.client, req, "apns")
	if err != nil && resp != nil && resp.StatusCode == http.StatusForbidden && bytes.Contains(body, []byte("ExpiredProviderToken")) {
		a.mu.Lock()
		a.jwt = "" // sign a fresh one for the retry
		a.mu.Unlock()
		return retryable(err)
	}
	return err
}
