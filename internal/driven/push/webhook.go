package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// Webhook POSTs {"messageId", "connectionId", "token"} as JSON to the URL
// the token names. Allowed decides which URLs may be called: webhook tokens
// come from mediator clients, and the gateway must not become a way to make
// requests to anything it can reach.
type Webhook struct {
	Allowed func(url string) bool
	Client  *http.Client // default: 10s timeout
}

// NewWebhook returns a webhook sender calling only URLs allowed accepts.
func NewWebhook(allowed func(string) bool) *Webhook {
	c := newClient(10 * time.Second)
	// A redirect could lead anywhere: the allowed URL must answer itself.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Webhook{Allowed: allowed, Client: c}
}

// Send calls the webhook once; 2xx is success, 408/429/5xx and transport
// errors are retryable, anything else is final.
func (w *Webhook) Send(ctx context.Context, n pickup.Notification) error {
	target := n.Token.Token
	if w.Allowed == nil || !w.Allowed(target) {
		return fmt.Errorf("webhook: %q is not allowed by --push-webhook-allow", target)
	}
	body, _ := json.Marshal(map[string]string{"messageId": n.MessageID, "connectionId": n.ConnectionID, "token": target})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "liveplane-pickup")
	_, _, err = do(w.Client, req, "webhook")
	return err
}
