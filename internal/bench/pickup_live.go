package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// notified is a messagesReceived notification as the bench reads it.
type notified struct {
	Params struct {
		ConnectionID string `json:"connectionId"`
		Messages     []struct {
			ID               string `json:"id"`
			EncryptedMessage struct {
				N int64 `json:"n"`
			} `json:"encryptedMessage"`
		} `json:"messages"`
	} `json:"params"`
}

// waiters maps a message number to whoever waits for its notification.
type waiters struct {
	mu sync.Mutex
	m  map[int64]chan struct{}
}

func (w *waiters) add(n int64) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.m[n] = ch
	w.mu.Unlock()
	return ch
}

func (w *waiters) done(n int64) {
	w.mu.Lock()
	ch := w.m[n]
	delete(w.m, n)
	w.mu.Unlock()
	if ch != nil {
		ch <- struct{}{}
	}
}

// runLive measures add -> messagesReceived: each op adds a message for one
// of --sessions live sessions and completes when the holder is notified,
// so the open-loop latency is the delivery latency, stalls included.
func (p *Pickup) runLive(ctx context.Context, env Env) (Result, error) {
	holderURL := p.url
	if p.peerURL != "" {
		holderURL = p.peerURL
	}
	w := &waiters{m: map[int64]chan struct{}{}}
	// A message in flight is removed by the socket it was delivered to
	// (the session holder); so each holder acknowledges its own.
	acks := make([]chan notified, p.sockets)
	var acksDropped, ackErrors atomic.Int64
	onNote := func(i int) func([]byte, time.Time) {
		acks[i] = make(chan notified, 65536)
		return func(frame []byte, _ time.Time) {
			var n notified
			if json.Unmarshal(frame, &n) != nil {
				return
			}
			for _, m := range n.Params.Messages {
				w.done(m.EncryptedMessage.N)
			}
			select {
			case acks[i] <- n:
			default: // unacknowledged messages come back after the ack timeout
				acksDropped.Add(1)
			}
		}
	}
	holders, err := pickupConnsEach(ctx, p.sockets, holderURL, p.key, onNote)
	if err != nil {
		return Result{}, err
	}
	senders, err := pickupConns(ctx, p.sockets, p.url, p.key, nil)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		for _, c := range append(holders, senders...) {
			c.close()
		}
	}()
	prefix := namePrefix()
	conn := func(k int64) string { return fmt.Sprintf("%s-s%d", prefix, k%int64(p.sessions)) }
	for k := range int64(p.sessions) {
		h := holders[k%int64(len(holders))]
		if err := h.callJSON(ctx, "addLiveSession", map[string]string{"connectionId": conn(k), "sessionId": fmt.Sprintf("%s-%d", prefix, k)}, nil); err != nil {
			return Result{}, fmt.Errorf("addLiveSession: %w", err)
		}
	}
	env.Log.Info("live sessions held", "sessions", p.sessions, "holder", holderURL, "adds", p.url)
	ackCtx, stopAcks := context.WithCancel(ctx)
	var ackers sync.WaitGroup
	for i, h := range holders {
		ackers.Go(func() {
			ackLoop(ackCtx, h, acks[i], func(err error) {
				if ackErrors.Add(1) == 1 {
					env.Log.Warn("removeMessages failed", "err", err)
				}
			})
		})
	}
	pad := strings.Repeat("x", max(p.payload-90, 1))
	res, err := Run(ctx, env.Load, func(ctx context.Context, i int64) error {
		ch := w.add(i)
		params := fmt.Appendf(nil, `{"connectionId":%q,"recipientDids":["did:example:r"],"payload":{"protected":"eyJ","iv":"aXY","ciphertext":"%s","tag":"dGFn","n":%d}}`,
			conn(i), pad, i)
		if _, err := senders[i%int64(len(senders))].call(ctx, "addMessage", params); err != nil {
			return err
		}
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("no messagesReceived: %w", ctx.Err())
		}
	})
	stopAcks()
	ackers.Wait()
	res.Extra = withExtra(res.Extra, "sessions", p.sessions)
	res.Extra["across_instances"] = p.peerURL != ""
	res.Extra["acks_dropped"] = acksDropped.Load()
	res.Extra["ack_errors"] = ackErrors.Load()
	return res, err
}

// ackLoop acknowledges notified messages (removeMessages), as a V2 live
// mode recipient does through its mediator. Up to ackWindow removes are in
// flight per holder socket: a mediator acknowledges for many recipients at
// once, and acknowledging one notification at a time, round trip after
// round trip, would leave most messages in flight until their ack timeout
// and measure the redelivery storm instead of the delivery path.
func ackLoop(ctx context.Context, c *pickupConn, acks <-chan notified, failed func(error)) {
	const ackWindow = 64
	sem := make(chan struct{}, ackWindow)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-acks:
			ids := make([]string, 0, len(n.Params.Messages))
			for _, m := range n.Params.Messages {
				ids = append(ids, m.ID)
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				var ok bool
				err := c.callJSON(ctx, "removeMessages", map[string]any{"connectionId": n.Params.ConnectionID, "messageIds": ids}, &ok)
				if err == nil && !ok {
					err = errors.New("removeMessages answered false")
				}
				if err != nil && ctx.Err() == nil {
					failed(err)
				}
			})
		}
	}
}
