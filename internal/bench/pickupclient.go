package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// pickupConn is a pipelining JSON-RPC client of the pickup gateway: many
// calls in flight on one socket, answers matched by id, notifications
// handed to onNote with the time they were read.
type pickupConn struct {
	ws      *websocket.Conn
	next    atomic.Int64
	mu      sync.Mutex
	waiting map[int64]chan pickupReply
	onNote  func(frame []byte, at time.Time)
	done    chan struct{}
	err     error
}

type pickupReply struct {
	result json.RawMessage
	err    error
}

// pickupError is a JSON-RPC error answer.
type pickupError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *pickupError) Error() string { return fmt.Sprintf("json-rpc %d: %s", e.Code, e.Message) }

func dialPickup(ctx context.Context, url, token string, onNote func([]byte, time.Time)) (*pickupConn, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, fmt.Errorf("dial pickup gateway %s: %w", url, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &pickupConn{ws: ws, waiting: map[int64]chan pickupReply{}, onNote: onNote, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *pickupConn) read() {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.fail(err)
			return
		}
		at := time.Now()
		var m struct {
			ID     *int64          `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
			Error  *pickupError    `json:"error"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		if m.ID == nil {
			if m.Method != "" && c.onNote != nil {
				c.onNote(b, at)
			}
			continue
		}
		c.mu.Lock()
		ch := c.waiting[*m.ID]
		delete(c.waiting, *m.ID)
		c.mu.Unlock()
		if ch == nil {
			continue
		}
		if m.Error != nil {
			ch <- pickupReply{err: m.Error}
		} else {
			ch <- pickupReply{result: m.Result}
		}
	}
}

func (c *pickupConn) fail(err error) {
	c.mu.Lock()
	c.err = err
	for id, ch := range c.waiting {
		ch <- pickupReply{err: fmt.Errorf("connection lost: %w", err)}
		delete(c.waiting, id)
	}
	c.mu.Unlock()
}

// call sends method with params (already JSON) and waits for the answer.
func (c *pickupConn) call(ctx context.Context, method string, params []byte) (json.RawMessage, error) {
	id := c.next.Add(1)
	ch := make(chan pickupReply, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.waiting[id] = ch
	c.mu.Unlock()
	frame := make([]byte, 0, len(params)+len(method)+64)
	frame = append(frame, `{"jsonrpc":"2.0","method":"`...)
	frame = append(frame, method...)
	frame = append(frame, `","params":`...)
	frame = append(frame, params...)
	frame = append(frame, `,"id":`...)
	frame = strconv.AppendInt(frame, id, 10)
	frame = append(frame, '}')
	if err := c.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		c.forget(id)
		return nil, err
	}
	select {
	case r := <-ch:
		return r.result, r.err
	case <-ctx.Done():
		c.forget(id)
		return nil, ctx.Err()
	}
}

func (c *pickupConn) forget(id int64) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

// callJSON marshals params and decodes the result into out (if not nil).
func (c *pickupConn) callJSON(ctx context.Context, method string, params, out any) error {
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	res, err := c.call(ctx, method, p)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(res, out)
}

func (c *pickupConn) close() { c.ws.CloseNow() }

// pickupConns dials n sockets.
func pickupConns(ctx context.Context, n int, url, token string, onNote func([]byte, time.Time)) ([]*pickupConn, error) {
	return pickupConnsEach(ctx, n, url, token, func(int) func([]byte, time.Time) { return onNote })
}

// pickupConnsEach dials n sockets; socket i's notifications go to onNote(i).
func pickupConnsEach(ctx context.Context, n int, url, token string, onNote func(i int) func([]byte, time.Time)) ([]*pickupConn, error) {
	out := make([]*pickupConn, 0, n)
	for i := range n {
		c, err := dialPickup(ctx, url, token, onNote(i))
		if err != nil {
			for _, c := range out {
				c.close()
			}
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
