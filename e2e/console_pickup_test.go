package e2e

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
)

// consolePickup is the browser test's pickup control: queues filled through
// the real gateway WebSocket (JSON-RPC addMessage, as a mediator does) and a
// live session held by a second socket until the test ends.
//
//	step=fill: 3 messages on console-queue; a live session console-session
//	           on console-live (held by its own socket), then 1 message there
//	step=more: 2 more messages on console-queue
type consolePickup struct {
	adder, holder *mpr
}

func (p *consolePickup) control(t *testing.T, s *server, q url.Values) error {
	switch q.Get("step") {
	case "fill":
		key := s.accountKey(t, "console-pickup")
		var err error
		if p.adder, err = dialMPR(t, s.pickupAddr(t), key); err != nil {
			return err
		}
		if p.holder, err = dialMPR(t, s.pickupAddr(t), key); err != nil {
			return err
		}
		if err := p.add("console-queue", 3); err != nil {
			return err
		}
		var ok bool
		if err := p.holder.call("addLiveSession", map[string]string{"connectionId": "console-live", "sessionId": "console-session"}, &ok); err != nil || !ok {
			return fmt.Errorf("addLiveSession: %v %v", ok, err)
		}
		return p.add("console-live", 1)
	case "more":
		if p.adder == nil {
			return errors.New("pickup: step=fill first")
		}
		return p.add("console-queue", 2)
	}
	return fmt.Errorf("pickup: unknown step %q", q.Get("step"))
}

func (p *consolePickup) add(conn string, n int) error {
	for range n {
		var r struct{ MessageID string }
		err := p.adder.call("addMessage", map[string]any{"connectionId": conn, "recipientDids": []string{"did:example:console"},
			"payload": map[string]string{"protected": "eyJ", "iv": "aXY", "ciphertext": "Y3Q", "tag": "dGFn"}}, &r)
		if err != nil {
			return fmt.Errorf("addMessage %s: %w", conn, err)
		}
	}
	return nil
}
