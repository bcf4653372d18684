// Package push sends pickup notifications: FCM (HTTP v1 API, OAuth2 service
// account), APNs (HTTP/2, token-based auth with an ES256 JWT) and a generic
// webhook (the recipient's notification URL). Each provider is a plain HTTP
// client with a configurable base URL, which is how tests point them at
// local servers. Errors worth retrying (429, 5xx, timeouts, connection
// failures) are marked pickup.RetryableError; the domain retries them with
// backoff.
package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// Sender picks the provider by the token's type.
type Sender struct {
	FCM     *FCM     // nil: FCM tokens fail
	APNs    *APNs    // nil: APNs tokens fail
	Webhook *Webhook // nil: webhook tokens fail
}

var _ pickup.Pusher = (*Sender)(nil)

// Push sends n with the provider for its token type: "fcm" (also
// "android"), "apns" (also "apn", "ios"), "webhook" (also "http", "https").
func (s *Sender) Push(ctx context.Context, n pickup.Notification) error {
	switch strings.ToLower(n.Token.Type) {
	case "fcm", "android":
		if s.FCM == nil {
			return errors.New("push: FCM is not configured (--push-fcm-credentials)")
		}
		return s.FCM.Send(ctx, n)
	case "apns", "apn", "ios":
		if s.APNs == nil {
			return errors.New("push: APNs is not configured (--push-apns-key)")
		}
		return s.APNs.Send(ctx, n)
	case "webhook", "http", "https":
		if s.Webhook == nil {
			return errors.New("push: webhooks are not enabled (--push-webhook-allow)")
		}
		return s.Webhook.Send(ctx, n)
	}
	return fmt.Errorf("push: unsupported token type %q", n.Token.Type)
}

// retryable wraps err as worth retrying.
func retryable(err error) error { return &pickup.RetryableError{Err: err} }

// do sends req and classifies the outcome: nil for 2xx; retryable for
// transport errors, 408, 429 and 5xx; final otherwise. The error carries
// the status and the start of the body (providers explain themselves
// there), never request headers.
func do(client *http.Client, req *http.Request, provider string) (*http.Response, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, retryable(fmt.Errorf("%s: %w", provider, err))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return resp, body, nil
	}
	err = fmt.Errorf("%s: %s: %s", provider, resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		return resp, body, retryable(err)
	}
	return resp, body, err
}

// newClient is an HTTP client for one provider.
func newClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = true
	t.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: t, Timeout: timeout}
}
