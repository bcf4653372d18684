package push

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// FCMOptions configure FCM.
type FCMOptions struct {
	CredentialsFile string       // a Firebase service-account JSON file
	Endpoint        string       // default https://fcm.googleapis.com
	Client          *http.Client // default: 10s timeout, HTTP/2
}

// FCM sends data messages through the FCM HTTP v1 API, authenticated with
// OAuth2 access tokens obtained by signing a JWT with the service account's
// key (the "JWT bearer" grant) and cached until shortly before they expire.
type FCM struct {
	endpoint string
	client   *http.Client
	project  string
	email    string
	keyID    string
	tokenURI string
	key      crypto.Signer

	mu      sync.Mutex
	access  string
	expires time.Time
}

const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// NewFCM reads the service account.
func NewFCM(o FCMOptions) (*FCM, error) {
	b, err := os.ReadFile(o.CredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("fcm credentials: %w", err)
	}
	var sa struct {
		ProjectID    string `json:"project_id"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		ClientEmail  string `json:"client_email"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(b, &sa); err != nil {
		return nil, fmt.Errorf("fcm credentials %s: not a service-account JSON file: %w", o.CredentialsFile, err)
	}
	if sa.ProjectID == "" || sa.ClientEmail == "" || sa.PrivateKey == "" || sa.TokenURI == "" {
		return nil, fmt.Errorf("fcm credentials %s: project_id, client_email, private_key and token_uri are required", o.CredentialsFile)
	}
	key, err := parseKey([]byte(sa.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("fcm credentials %s: private_key: %w", o.CredentialsFile, err)
	}
	f := &FCM{endpoint: strings.TrimRight(o.Endpoint, "/"), client: o.Client, project: sa.ProjectID,
		email: sa.ClientEmail, keyID: sa.PrivateKeyID, tokenURI: sa.TokenURI, key: key}
	if f.endpoint == "" {
		f.endpoint = "https://fcm.googleapis.com"
	}
	if f.client == nil {
		f.client = newClient(10 * time.Second)
	}
	return f, nil
}

// Send sends one data message: the DIDComm push-notifications-fcm shape
// (@type and message_id), high priority, collapsed per app.
func (f *FCM) Send(ctx context.Context, n pickup.Notification) error {
	token, err := f.accessToken(ctx)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"message": map[string]any{
		"token": n.Token.Token,
		"data": map[string]string{
			"@type":      "https://didcomm.org/push-notifications-fcm",
			"message_id": n.MessageID,
		},
		"android": map[string]any{"priority": "HIGH", "collapse_key": "liveplane-new-messages"},
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		f.endpoint+"/v1/projects/"+url.PathEscape(f.project)+"/messages:send", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, _, err := do(f.client, req, "fcm")
	if err != nil && resp != nil && resp.StatusCode == http.StatusUnauthorized {
		f.forget(token) // revoked or expired early: the next attempt fetches a new one
		return retryable(err)
	}
	return err
}

func (f *FCM) forget(token string) {
	f.mu.Lock()
	if f.access == token {
		f.access = ""
	}
	f.mu.Unlock()
}

// accessToken returns a cached OAuth2 token or fetches one.
func (f *FCM) accessToken(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.access != "" && time.Until(f.expires) > time.Minute {
		return f.access, nil
	}
	now := time.Now()
	assertion, err := signJWT(f.key, f.keyID, map[string]any{
		"iss": f.email, "scope": fcmScope, "aud": f.tokenURI, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("fcm: %w", err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.tokenURI, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("fcm token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, body, err := do(f.client, req, "fcm token")
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return "", errors.New("fcm token: the token endpoint answered without an access_token")
	}
	f.access, f.expires = tok.AccessToken, now.Add(time.Duration(tok.ExpiresIn)*time.Second)
	return f.access, nil
}
