package pickup

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
)

// AddInput is addMessage's input.
type AddInput struct {
	ConnectionID  string
	RecipientDIDs []string
	Payload       []byte // compact JSON
	Push          *PushToken
}

// AddMessage stores a message and returns its id once it is committed. A
// message for a connection with a healthy live session is delivered to the
// socket holding it; otherwise a push token claims a notification. Errors:
// CodeInvalid (names the field), CodeTooLarge (payload over the limit),
// CodeExhausted (the connection's quota), CodeUnavailable.
func (s *Service) AddMessage(ctx context.Context, c Client, in AddInput) (string, error) {
	const op = "pickup.AddMessage"
	if err := checkConnection(op, in.ConnectionID); err != nil {
		return "", err
	}
	if err := checkRecipients(op, in.RecipientDIDs); err != nil {
		return "", err
	}
	if len(in.Payload) == 0 {
		return "", domain.Errorf(domain.CodeInvalid, op, "payload is required")
	}
	if len(in.Payload) > s.opt.MaxMessageBytes {
		s.metrics.refused("too_large")
		return "", domain.Errorf(domain.CodeTooLarge, op, "payload is %d bytes, over the limit of %d; nothing was stored",
			len(in.Payload), s.opt.MaxMessageBytes)
	}
	push := in.Push
	if push != nil && push.Token == "" {
		push = nil // the client's "no token known": nothing to wake
	}
	if err := checkPush(op, push); err != nil {
		return "", err
	}
	m := NewMessage{Message: Message{
		ID: domain.NewID(), Account: c.Account, ConnectionID: in.ConnectionID,
		RecipientDIDs: in.RecipientDIDs, Payload: in.Payload, ReceivedAt: s.clock.Now(),
	}, Push: push}
	if _, err := s.enqueue(ctx, m); err != nil {
		return "", err
	}
	return m.ID, nil
}

// TakeInput is takeFromQueue's input. Nil means "not given".
type TakeInput struct {
	ConnectionID string
	RecipientDID string
	Limit        *int
	LimitBytes   *int
	Delete       bool
}

// Take returns pending messages in FIFO order (see Store.Take). Limit 0 or
// absent means MaxTake, as with the existing gateway whose absent or zero
// limit means "all"; LimitBytes 0 or absent means no byte limit. Without
// Delete the messages are in flight to the calling socket until it removes
// them or AckTimeout passes.
func (s *Service) Take(ctx context.Context, c Client, in TakeInput) ([]Message, error) {
	const op = "pickup.Take"
	if err := checkConnection(op, in.ConnectionID); err != nil {
		return nil, err
	}
	if err := checkText(op, "recipientDid", in.RecipientDID, false, maxDIDLen); err != nil {
		return nil, err
	}
	limit, limitBytes := s.opt.MaxTake, 0
	if in.Limit != nil {
		if *in.Limit < 0 {
			return nil, domain.Errorf(domain.CodeInvalid, op, "limit must be >= 0, got %d", *in.Limit)
		}
		if *in.Limit > 0 {
			limit = min(*in.Limit, s.opt.MaxTake)
		}
	}
	if in.LimitBytes != nil {
		if *in.LimitBytes < 0 {
			return nil, domain.Errorf(domain.CodeInvalid, op, "limitBytes must be >= 0, got %d", *in.LimitBytes)
		}
		limitBytes = *in.LimitBytes
	}
	msgs, err := s.store.Take(ctx, TakeQuery{
		Account: c.Account, ConnectionID: in.ConnectionID, RecipientDID: in.RecipientDID,
		Limit: limit, LimitBytes: limitBytes, Delete: in.Delete,
		By: c.Holder, Deadline: s.clock.Now().Add(s.opt.AckTimeout),
	})
	return msgs, domain.Wrap(op, err)
}

// Count is getAvailableMessageCount: pending messages, narrowed to a DID.
func (s *Service) Count(ctx context.Context, c Client, connectionID, recipientDID string) (int64, error) {
	const op = "pickup.Count"
	if err := checkConnection(op, connectionID); err != nil {
		return 0, err
	}
	if err := checkText(op, "recipientDid", recipientDID, false, maxDIDLen); err != nil {
		return 0, err
	}
	n, err := s.store.AvailableCount(ctx, c.Account, connectionID, recipientDID)
	return n, domain.Wrap(op, err)
}

// RemoveMessages deletes acknowledged messages. Messages in flight to
// another socket (a newer session's holder) are left alone: a late remove
// from a superseded session is a no-op for the new one.
func (s *Service) RemoveMessages(ctx context.Context, c Client, connectionID string, ids []string) (int64, error) {
	const op = "pickup.RemoveMessages"
	if err := checkConnection(op, connectionID); err != nil {
		return 0, err
	}
	if len(ids) > maxRemoveIDs {
		return 0, domain.Errorf(domain.CodeInvalid, op, "messageIds lists %d ids, over the limit of %d", len(ids), maxRemoveIDs)
	}
	for _, id := range ids {
		if err := checkText(op, "messageIds[]", id, true, maxIDLen); err != nil {
			return 0, err
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return s.remove(ctx, Removal{Account: c.Account, ConnectionID: connectionID, IDs: ids, By: c.Holder})
}

// RemoveAll deletes every message of the connection addressed to the DID.
func (s *Service) RemoveAll(ctx context.Context, c Client, connectionID, recipientDID string) (int64, error) {
	const op = "pickup.RemoveAll"
	if err := checkConnection(op, connectionID); err != nil {
		return 0, err
	}
	if err := checkText(op, "recipientDid", recipientDID, true, maxDIDLen); err != nil {
		return 0, err
	}
	n, err := s.store.RemoveAll(ctx, c.Account, connectionID, recipientDID)
	return n, domain.Wrap(op, err)
}
