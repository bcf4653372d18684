package pickupgw

import (
	"context"
	"strconv"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// method runs one call. after, when not nil, runs once the response is
// queued (addLiveSession drains the queue behind its answer).
type method func(ctx context.Context, s *socket, p params) (result []byte, after func(), err error)

// eventMessagesReceived is the one event of the dialect.
const eventMessagesReceived = "messagesReceived"

var (
	resultTrue  = []byte("true")
	resultFalse = []byte("false")
)

func methods() map[string]method {
	return map[string]method{
		"addMessage":               addMessage,
		"takeFromQueue":            takeFromQueue,
		"getAvailableMessageCount": getAvailableMessageCount,
		"removeMessages":           removeMessages,
		"removeAllMessages":        removeAllMessages,
		"getLiveSession":           getLiveSession,
		"addLiveSession":           addLiveSession,
		"removeLiveSession":        removeLiveSession,
		"ping":                     ping,
		"rpc.on":                   subscribe(true),
		"rpc.off":                  subscribe(false),
	}
}

func boolResult(b bool) []byte {
	if b {
		return resultTrue
	}
	return resultFalse
}

func addMessage(ctx context.Context, s *socket, p params) ([]byte, func(), error) {
	if err := p.object(); err != nil {
		return nil, nil, err
	}
	conn, err := p.str("connectionId")
	if err != nil {
		return nil, nil, err
	}
	dids, err := p.strings("recipientDids", true)
	if err != nil {
		return nil, nil, err
	}
	payload, err := p.jsonObject("payload")
	if err != nil {
		return nil, nil, err
	}
	in := pickup.AddInput{ConnectionID: conn, RecipientDIDs: dids, Payload: payload}
	typ, tok, ok, err := p.pushToken("pushNotificationToken")
	if err != nil {
		return nil, nil, err
	}
	if ok {
		in.Push = &pickup.PushToken{Type: typ, Token: tok}
	}
	out, derr := s.add(ctx, in)
	return out, nil, derr
}

// add stores the message and returns addMessage's result.
func (s *socket) add(ctx context.Context, in pickup.AddInput) ([]byte, error) {
	id, derr := s.srv.svc.AddMessage(ctx, s.client, in)
	if derr != nil {
		return nil, derr
	}
	out := make([]byte, 0, len(id)+16)
	out = append(out, `{"messageId":`...)
	out = appendString(out, id)
	return append(out, '}'), nil
}

func takeFromQueue(ctx context.Context, s *socket, p params) ([]byte, func(), error) {
	if err := p.object(); err != nil {
		return nil, nil, err
	}
	var in pickup.TakeInput
	var err *rpcError
	if in.ConnectionID, err = p.str("connectionId"); err != nil {
		return nil, nil, err
	}
	if in.RecipientDID, err = p.str("recipientDid"); err != nil {
		return nil, nil, err
	}
	if in.Limit, err = p.int("limit"); err != nil {
		return nil, nil, err
	}
	if in.LimitBytes, err = p.int("limitBytes"); err != nil {
		return nil, nil, err
	}
	if in.Delete, err = p.bool("deleteMessages"); err != nil {
		return nil, nil, err
	}
	msgs, derr := s.srv.svc.Take(ctx, s.client, in)
	if derr != nil {
		return nil, nil, derr
	}
	return appendMessages(nil, msgs), nil, nil
}

// appendMessages writes QueuedMessage objects: {id, receivedAt, encryptedMessage},
// receivedAt as JavaScript's Date.toJSON writes it.
func appendMessages(b []byte, msgs []pickup.Message) []byte {
	b = append(b, '[')
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, m.ID)
		b = append(b, `,"receivedAt":"`...)
		b = m.ReceivedAt.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(b, `","encryptedMessage":`...)
		b = append(b, m.Payload...)
		b = append(b, '}')
	}
	return append(b, ']')
}

func getAvailableMessageCount(ctx context.Context, s *socket, p params) ([]byte, func(), error) {
	if err := p.object(); err != nil {
		return nil, nil, err
	}
	conn, err := p.str("connectionId")
	if err != nil {
		return nil, nil, err
	}
	did, err := p.str("recipientDid")
	if err != nil {
		return nil, nil, err
	}
	n, derr := s.srv.svc.Count(ctx, s.client, conn, did)
	if derr != nil {
		return nil, nil, derr
	}
	return strconv.AppendInt(nil, n, 10), nil, nil
}

func removeMessages(ctx context.Context, s *socket, p params) ([]byte, func(), error) {
	if err := p.object(); err != nil {
		return nil, nil, err
	}
	conn, err := p.str("connectionId")
	if err != nil {
		return nil, nil, err
	}
	ids, err := p.strings("messageIds", true)
	if err != nil {
		return nil, nil, err
	}
	if _, derr := s.srv.svc.RemoveMessages(ctx, s.client, conn, ids); derr != nil {
		return nil, nil, derr
	}
	return resultTrue, nil, nil
}

func removeAllMessages(ctx context.Context, s *socket, p params) ([]byte, func(), error) {
	if err := p.object(); err != nil {
		return nil, nil, err
	}
	conn, err := p.str("connectionId")
	if err != nil {
		return nil, nil, err
	}
	did, err := p.str("recipientDid")
	if err != nil {
		return nil, nil, err
	}
	if _, derr := s.srv.svc.RemoveAll(ctx, s.client, conn, did); derr != nil {
		return nil, nil, derr
	}
	return resultTrue, nil, nil
}
