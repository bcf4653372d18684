package pickupgw

import (
	"context"
	"encoding/json"
	"time"
)

func getLiveSession(ctx context.Context, s *socket, p params) ([]byte, func(), error) {
	if err := p.object(); err != nil {
		return nil, nil, err
	}
	conn, err := p.str("connectionId")
	if err != nil {
		return nil, nil, err
	}
	live, derr := s.srv.svc.LiveSession(ctx, s.client, conn)
	if derr != nil {
		return nil, nil, derr
	}
	return boolResult(live), nil, nil
}

func addLiveSession(ctx context.Context, s *socket, p params) ([]byte, func(), error) {
	if err := p.object(); err != nil {
		return nil, nil, err
	}
	conn, err := p.str("connectionId")
	if err != nil {
		return nil, nil, err
	}
	session, err := p.str("sessionId")
	if err != nil {
		return nil, nil, err
	}
	s.heldSessions.Store(true)
	// Held from before the lease exists: another socket's add can commit
	// in flight to it the moment it does, ahead of the backlog's claim.
	key := connID(s.client.Account, conn)
	s.holdLive(key)
	lease, derr := s.srv.svc.AddLiveSession(ctx, s.client, conn, session)
	if derr != nil {
		s.releaseLive(key)
		return nil, nil, derr
	}
	drain := func() {
		defer s.releaseLive(key)
		dctx, cancel := context.WithTimeout(s.srv.ctx, time.Minute)
		defer cancel()
		s.srv.svc.Drain(dctx, lease)
	}
	return resultTrue, drain, nil
}

func removeLiveSession(ctx context.Context, s *socket, p params) ([]byte, func(), error) {
	if err := p.object(); err != nil {
		return nil, nil, err
	}
	conn, err := p.str("connectionId")
	if err != nil {
		return nil, nil, err
	}
	session, err := p.str("sessionId") // additive: the stock client sends none
	if err != nil {
		return nil, nil, err
	}
	ok, derr := s.srv.svc.RemoveLiveSession(ctx, s.client, conn, session)
	if derr != nil {
		return nil, nil, derr
	}
	return boolResult(ok), nil, nil
}

func ping(context.Context, *socket, params) ([]byte, func(), error) {
	return []byte(`"pong"`), nil, nil
}

// subscribe is rpc.on / rpc.off: params list event names; the answer maps
// each to "ok" or, as rpc-websockets servers say, "provided event invalid".
func subscribe(on bool) method {
	return func(_ context.Context, s *socket, p params) ([]byte, func(), error) {
		var names []string
		if p.array {
			for _, raw := range p.list {
				var n string
				if json.Unmarshal(raw, &n) != nil {
					return nil, nil, invalidParams("params", "event names must be strings")
				}
				names = append(names, n)
			}
		} else if n, err := p.str("event"); err != nil {
			return nil, nil, err
		} else if n != "" {
			names = append(names, n)
		}
		if len(names) == 0 {
			return nil, nil, invalidParams("params", "list the events, e.g. [\"messagesReceived\"]")
		}
		out := map[string]string{}
		for _, n := range names {
			if n != eventMessagesReceived {
				out[n] = "provided event invalid"
				continue
			}
			s.unsubscribed.Store(!on)
			out[n] = "ok"
		}
		b, _ := json.Marshal(out)
		return b, nil, nil
	}
}
