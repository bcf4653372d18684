package push

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// The providers' real client code runs against local servers standing in
// for Google's and Apple's endpoints; the servers check what a real one
// would: signatures, headers, paths, HTTP/2.

func writePEM(t *testing.T, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// verifyJWT checks a compact JWT's signature and returns its header and claims.
func verifyJWT(t *testing.T, tok string, pub any) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig); err != nil {
			t.Fatalf("RS256 signature: %v", err)
		}
	case *ecdsa.PublicKey:
		if len(sig) != 64 || !ecdsa.Verify(k, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatal("ES256 signature does not verify")
		}
	}
	var h, c map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		t.Fatalf("bad JWT parts in %q", tok)
	}
	return h, c
}

func note(typ, token string) pickup.Notification {
	return pickup.Notification{Token: pickup.PushToken{Type: typ, Token: token}, ConnectionID: "conn", MessageID: "msg-1"}
}

func TestFCMOAuthAndSend(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	var tokens, sends atomic.Int32
	status := atomic.Int32{}
	status.Store(200)
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			tokens.Add(1)
			_ = r.ParseForm()
			h, c := verifyJWT(t, r.PostForm.Get("assertion"), &key.PublicKey)
			if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || h["alg"] != "RS256" ||
				h["kid"] != "kid-1" || c["iss"] != "sa@proj.iam.gserviceaccount.com" || c["scope"] != fcmScope || c["aud"] != srvURL+"/token" {
				t.Errorf("token request: header %v claims %v", h, c)
			}
			_, _ = io.WriteString(w, `{"access_token":"at-1","expires_in":3600,"token_type":"Bearer"}`)
		case "/v1/projects/proj/messages:send":
			sends.Add(1)
			var body struct {
				Message struct {
					Token string            `json:"token"`
					Data  map[string]string `json:"data"`
				} `json:"message"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			if r.Header.Get("Authorization") != "Bearer at-1" || body.Message.Token != "device-1" || body.Message.Data["message_id"] != "msg-1" {
				t.Errorf("send: auth %q body %+v", r.Header.Get("Authorization"), body)
			}
			w.WriteHeader(int(status.Load()))
			_, _ = io.WriteString(w, `{"name":"projects/proj/messages/1"}`)
		default:
			t.Errorf("unexpected %s", r.URL.Path)
		}
	}))
	defer srv.Close()
	srvURL = srv.URL
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "proj", "private_key_id": "kid-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "sa@proj.iam.gserviceaccount.com", "token_uri": srv.URL + "/token"})
	path := filepath.Join(t.TempDir(), "sa.json")
	_ = os.WriteFile(path, sa, 0o600)
	f, err := NewFCM(FCMOptions{CredentialsFile: path, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := &Sender{FCM: f}
	for range 2 {
		if err := s.Push(context.Background(), note("fcm", "device-1")); err != nil {
			t.Fatal(err)
		}
	}
	if tokens.Load() != 1 || sends.Load() != 2 {
		t.Fatalf("token fetched %d times for %d sends, want 1 for 2", tokens.Load(), sends.Load())
	}
	status.Store(503)
	if err := s.Push(context.Background(), note("fcm", "device-1")); !pickup.Retryable(err) {
		t.Fatalf("503: %v, want retryable", err)
	}
	status.Store(404)
	if err := s.Push(context.Background(), note("android", "device-1")); err == nil || pickup.Retryable(err) {
		t.Fatalf("404 (unregistered token): %v, want final", err)
	}
}

func TestAPNsHTTP2TokenAuth(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	status := atomic.Int32{}
	status.Store(200)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, c := verifyJWT(t, strings.TrimPrefix(r.Header.Get("Authorization"), "bearer "), &key.PublicKey)
		if r.ProtoMajor != 2 || h["alg"] != "ES256" || h["kid"] != "KEY123" || c["iss"] != "TEAM123" ||
			r.URL.Path != "/3/device/abcdef" || r.Header.Get("apns-topic") != "org.example.wallet" ||
			r.Header.Get("apns-push-type") != "background" {
			t.Errorf("apns request: proto %s path %s header %v claims %v headers %v", r.Proto, r.URL.Path, h, c, r.Header)
		}
		w.WriteHeader(int(status.Load()))
		if status.Load() != 200 {
			_, _ = io.WriteString(w, `{"reason":"BadDeviceToken"}`)
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	a, err := NewAPNs(APNsOptions{KeyFile: writePEM(t, der), KeyID: "KEY123", TeamID: "TEAM123", Topic: "org.example.wallet",
		Endpoint: srv.URL, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s := &Sender{APNs: a}
	if err := s.Push(context.Background(), note("apns", "abcdef")); err != nil {
		t.Fatal(err)
	}
	status.Store(500)
	if err := s.Push(context.Background(), note("ios", "abcdef")); !pickup.Retryable(err) {
		t.Fatalf("500: %v, want retryable", err)
	}
	status.Store(400)
	if err := s.Push(context.Background(), note("apn", "abcdef")); err == nil || pickup.Retryable(err) || !strings.Contains(err.Error(), "BadDeviceToken") {
		t.Fatalf("400: %v, want final with the reason", err)
	}
}

func TestWebhook(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.URL.Path {
		case "/ok":
			var b map[string]string
			_ = json.NewDecoder(r.Body).Decode(&b)
			if b["messageId"] != "msg-1" || b["connectionId"] != "conn" {
				t.Errorf("webhook body %v", b)
			}
		case "/busy":
			w.WriteHeader(503)
		case "/gone":
			w.WriteHeader(410)
		case "/redirect":
			http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
		}
	}))
	defer srv.Close()
	s := &Sender{Webhook: NewWebhook(func(u string) bool { return strings.HasPrefix(u, srv.URL) })}
	ctx := context.Background()
	if err := s.Push(ctx, note("webhook", srv.URL+"/ok")); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx, note("webhook", srv.URL+"/busy")); !pickup.Retryable(err) {
		t.Fatalf("503: %v", err)
	}
	if err := s.Push(ctx, note("webhook", srv.URL+"/gone")); err == nil || pickup.Retryable(err) {
		t.Fatalf("410: %v", err)
	}
	if err := s.Push(ctx, note("webhook", srv.URL+"/redirect")); err == nil || pickup.Retryable(err) {
		t.Fatalf("redirect was followed or retried: %v", err)
	}
	before := calls.Load()
	if err := s.Push(ctx, note("webhook", "http://127.0.0.2:9/other")); err == nil || calls.Load() != before {
		t.Fatalf("disallowed URL: %v", err)
	}
	if err := s.Push(ctx, note("carrier-pigeon", "x")); err == nil {
		t.Fatal("unknown token type accepted")
	}
	if err := (&Sender{}).Push(ctx, note("fcm", "x")); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("unconfigured FCM: %v", err)
	}
}
