package pickup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"
)

// Push is a claimed notification: one per token and window, stored so a
// crash or a failing provider does not lose it.
type Push struct {
	TokenHash    string
	Token        PushToken
	Account      string
	ConnectionID string
	MessageID    string // the message that opened the window
	WindowStart  time.Time
	Attempts     int
}

// Notification is what a Pusher sends.
type Notification struct {
	Token        PushToken
	ConnectionID string
	MessageID    string
}

// PushOutcome is how a notification ended, or when to try again.
type PushOutcome struct {
	State   string    // PushSent, PushFailed, PushSkipped or PushDue (retry at RetryAt)
	RetryAt time.Time // for PushDue
	Error   string    // the last failure, for operators
}

// Push states.
const (
	PushDue     = "due"
	PushSent    = "sent"
	PushFailed  = "failed"
	PushSkipped = "skipped" // a live session appeared before it was sent
)

// HashToken keys a token's notification window: tokens are secrets of the
// recipient's device, so the key is their hash.
func HashToken(t PushToken) string {
	sum := sha256.Sum256([]byte(t.Type + "\x00" + t.Token))
	return hex.EncodeToString(sum[:])
}

// RetryableError marks a push failure worth retrying.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable reports whether err is marked retryable.
func Retryable(err error) bool {
	var r *RetryableError
	return errors.As(err, &r)
}

// pushBackoff is the wait before attempt n+1 (n >= 1): 250 ms doubling,
// capped at a minute.
func pushBackoff(n int) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < n && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// runPush sends due notifications until ctx ends. It wakes on s.pushWake
// (a message claimed a window) and otherwise polls, which covers retries and
// other instances' claims.
func (s *Service) runPush(ctx context.Context) error {
	poll := time.NewTicker(s.opt.PushPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		case <-s.pushWake:
		}
		for ctx.Err() == nil {
			now := s.clock.Now()
			due, err := s.store.DuePushes(ctx, now, now.Add(s.opt.PushTimeout+5*time.Second), 32)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("pickup: reading due notifications", "err", err)
				}
				break
			}
			for _, p := range due {
				s.sendPush(ctx, p)
			}
			if len(due) < 32 {
				break
			}
		}
	}
}

func (s *Service) sendPush(ctx context.Context, p Push) {
	log := s.log.With("connection", p.ConnectionID, "push_type", p.Token.Type, "attempt", p.Attempts)
	finish := func(o PushOutcome) {
		if err := s.store.FinishPush(context.WithoutCancel(ctx), p, o); err != nil {
			log.Warn("pickup: recording notification outcome", "err", err)
		}
		s.metrics.push(p.Token.Type, o.State)
	}
	// Never while a live session is healthy: the recipient is listening.
	if _, live, err := s.store.LiveSession(ctx, p.Account, p.ConnectionID, s.clock.Now()); err == nil && live {
		finish(PushOutcome{State: PushSkipped})
		return
	}
	if s.pusher == nil {
		finish(PushOutcome{State: PushFailed, Error: "no push provider configured"})
		return
	}
	pctx, cancel := context.WithTimeout(ctx, s.opt.PushTimeout)
	err := s.pusher.Push(pctx, Notification{Token: p.Token, ConnectionID: p.ConnectionID, MessageID: p.MessageID})
	cancel()
	switch {
	case err == nil:
		finish(PushOutcome{State: PushSent})
	case (Retryable(err) || errors.Is(err, context.DeadlineExceeded)) && p.Attempts < s.opt.PushAttempts:
		retry := s.clock.Now().Add(pushBackoff(p.Attempts))
		log.Info("pickup: notification failed, will retry", "err", err, "retry_at", retry)
		finish(PushOutcome{State: PushDue, RetryAt: retry, Error: err.Error()})
	default:
		log.Warn("pickup: notification failed", "err", err)
		finish(PushOutcome{State: PushFailed, Error: err.Error()})
	}
}

// discardLogger is the logger when none is given.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
