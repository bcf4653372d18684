// Package livelogclient follows one device's live-log stream (serve's /ws or
// the relay's /device-logs, docs/live-logs.md) and keeps following it:
// it resumes from the last seq and epoch after every drop, with exponential
// backoff and full jitter, drops duplicates by seq, checks continuity with
// prev, and reports every gap explicitly. The relay, `liveplane logs
// follow` and `liveplane bench stream` use it.
package livelogclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Subprotocol is the WebSocket subprotocol of the stream.
const Subprotocol = "liveplane.v1"

// Close codes of docs/live-logs.md.
const (
	CloseLagging websocket.StatusCode = 4008 // the client read too slowly
	CloseResync  websocket.StatusCode = 4009 // the server lost continuity
)

// Gap reasons.
const (
	ReasonEpoch  = "epoch"  // the stream was recreated: seqs restart
	ReasonWindow = "window" // lines left the server's window
	ReasonOrder  = "order"  // a line's prev did not match (a server bug)
)

// Position is where a client is in a device's stream.
type Position struct {
	Epoch string
	Seq   uint64
}

// Options says what to follow and how.
type Options struct {
	// URL is the server's base URL (http://host:port, https:// or ws://);
	// Path is appended (default "/ws").
	URL      string
	Path     string
	DeviceID string
	Token    string
	// TokenInProtocol sends the token as Sec-WebSocket-Protocol
	// "liveplane.v1, bearer.TOKEN", as browsers must, instead of a header.
	TokenInProtocol bool
	// Header is added to the handshake (Origin, for instance).
	Header http.Header
	// Last asks for the device's last N retained lines on the first connect.
	Last int
	// From resumes from a known position on the first connect.
	From *Position
	// Backoff between reconnects; the first retry after a lagging or resync
	// close is immediate.
	Backoff Backoff
	// DialTimeout bounds one handshake (default 10s).
	DialTimeout time.Duration
	// HTTPClient dials (default: http.DefaultClient's transport).
	HTTPClient *http.Client
	// ReadLimit is the largest frame accepted (default 1 MiB).
	ReadLimit int64
}

// Kind is what an Event reports.
type Kind int

const (
	KindLine         Kind = iota + 1 // Line: a new line, in order, once
	KindLive                         // Hello: connected; history (if any) then the live tail follow
	KindReconnecting                 // Attempt, Delay, Err: the connection dropped or a dial failed
	KindGap                          // Gap: lines may be missing; never silent
	KindControl                      // Control: a relay's reconnecting/live notice about its upstream
)

func (k Kind) String() string {
	switch k {
	case KindLine:
		return "line"
	case KindLive:
		return "live"
	case KindReconnecting:
		return "reconnecting"
	case KindGap:
		return "gap"
	case KindControl:
		return "control"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one thing the caller learns. Which fields are set depends on Kind.
type Event struct {
	Kind    Kind
	Line    *Line
	Hello   *Hello
	Gap     *Gap
	Control *Control
	Attempt int           // reconnecting: 1 for the first retry after a drop
	Delay   time.Duration // reconnecting: how long the client waits first
	Err     error         // reconnecting: why
}

// Gap describes lines that may be missing.
type Gap struct {
	Reason    string // ReasonEpoch, ReasonWindow, ReasonOrder
	Epoch     string // the epoch the stream continues in
	PrevEpoch string
	FromSeq   uint64  // the client's position before the gap
	Span      GapSpan // when known: AfterSeq < lost seqs < BeforeSeq
}

// HTTPError is a refusal before the upgrade (400, 401, 403, 404, 503...).
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
}

// Permanent reports whether retrying cannot help: bad request, bad
// credentials, no such device.
func (e *HTTPError) Permanent() bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// Client follows one device. Use it from one goroutine: Run, and Position
// and Duplicates from the handler or after Run returns.
type Client struct {
	opts Options
	t    tracker
}

// New checks opts and returns a client; nothing is dialled yet.
func New(opts Options) (*Client, error) {
	if opts.DeviceID == "" {
		return nil, errors.New("livelogclient: no device id")
	}
	if _, err := url.Parse(opts.URL); err != nil || opts.URL == "" {
		return nil, fmt.Errorf("livelogclient: bad URL %q", opts.URL)
	}
	if opts.Path == "" {
		opts.Path = "/ws"
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.ReadLimit <= 0 {
		opts.ReadLimit = 1 << 20
	}
	c := &Client{opts: opts}
	if opts.From != nil {
		c.t = tracker{epoch: opts.From.Epoch, expect: opts.From.Seq, last: opts.From.Seq, started: true}
	}
	return c, nil
}

// Position is the resume position; ok is false before the first hello.
func (c *Client) Position() (Position, bool) { return c.t.position() }

// Duplicates counts lines dropped because their seq was already delivered.
func (c *Client) Duplicates() int64 { return c.t.duplicates }

// Run follows the device until ctx ends (then it returns nil) or a
// permanent error: an *HTTPError with Permanent(), a close the protocol
// says not to retry (*websocket.CloseError 1000, 1003, 1007, 1008, 1009),
// or an error returned by handle. handle runs on Run's goroutine; while it
// runs nothing is read, so a slow handler makes the server close the
// connection as lagging, and Run resumes.
func (c *Client) Run(ctx context.Context, handle func(Event) error) error {
	attempt := 0
	for {
		connected, err := c.session(ctx, handle)
		if ctx.Err() != nil {
			return nil
		}
		var he handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if permanent(err) {
			return err
		}
		if connected {
			attempt = 0
		}
		delay := c.opts.Backoff.Delay(attempt)
		if attempt == 0 && immediate(err) {
			delay = 0
		}
		attempt++
		if herr := handle(Event{Kind: KindReconnecting, Attempt: attempt, Delay: delay, Err: err}); herr != nil {
			return herr
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }

func permanent(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Permanent()
	}
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusUnsupportedData, websocket.StatusInvalidFramePayloadData,
		websocket.StatusPolicyViolation, websocket.StatusMessageTooBig:
		return true
	}
	return false
}

// immediate: the server asks for a resume at once.
func immediate(err error) bool {
	switch websocket.CloseStatus(err) {
	case CloseLagging, CloseResync, websocket.StatusGoingAway:
		return true
	}
	return false
}

// session is one connection: dial, hello, lines until it ends. connected
// reports whether a hello arrived.
func (c *Client) session(ctx context.Context, handle func(Event) error) (connected bool, err error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return false, err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(c.opts.ReadLimit)
	// Reads take a context that is never done, and ctx ending closes the
	// socket once instead: the library arms and disarms a context callback
	// around every frame it reads, which on a cancelable context costs a
	// lock and two allocations per line.
	stop := context.AfterFunc(ctx, func() { conn.CloseNow() })
	defer stop()
	rctx := context.Background()
	for {
		typ, b, err := conn.Read(rctx)
		if err != nil {
			return connected, err
		}
		if typ != websocket.MessageText {
			return connected, errors.New("binary frame from the server")
		}
		l, h, ctl, err := decode(b)
		if err != nil {
			conn.Close(websocket.StatusUnsupportedData, "bad frame")
			return connected, err
		}
		var buf [2]Event // at most a gap and what follows it, on the stack
		events := buf[:0]
		switch {
		case h != nil:
			if connected {
				return connected, errors.New("second hello on one connection")
			}
			connected = true
			if g := c.t.hello(*h); g != nil {
				events = append(events, Event{Kind: KindGap, Gap: g})
			}
			events = append(events, Event{Kind: KindLive, Hello: h})
		case !connected:
			return false, errors.New("the server's first frame is not a hello")
		case l != nil:
			ok, g := c.t.line(l)
			if g != nil {
				events = append(events, Event{Kind: KindGap, Gap: g})
			}
			if ok {
				events = append(events, Event{Kind: KindLine, Line: l})
			}
		default:
			if g := c.t.control(ctl); g != nil {
				events = append(events, Event{Kind: KindGap, Gap: g})
			} else {
				events = append(events, Event{Kind: KindControl, Control: ctl})
			}
		}
		for _, ev := range events {
			if err := handle(ev); err != nil {
				conn.Close(websocket.StatusNormalClosure, "")
				return connected, handlerError{err}
			}
		}
	}
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	u, err := c.url()
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for k, v := range c.opts.Header {
		h[k] = v
	}
	opts := &websocket.DialOptions{HTTPClient: c.opts.HTTPClient, HTTPHeader: h, Subprotocols: []string{Subprotocol}}
	if c.opts.Token != "" {
		if c.opts.TokenInProtocol {
			opts.Subprotocols = append(opts.Subprotocols, "bearer."+c.opts.Token)
		} else {
			h.Set("Authorization", "Bearer "+c.opts.Token)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u, opts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
			}
			return nil, &HTTPError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
		}
		return nil, err
	}
	return conn, nil
}

// url is the stream URL for the next connection: resume when a position
// is known, else the first connect's history request.
func (c *Client) url() (string, error) {
	u, err := url.Parse(strings.TrimRight(c.opts.URL, "/") + c.opts.Path)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	q := url.Values{"deviceId": {c.opts.DeviceID}}
	if p, ok := c.t.position(); ok && p.Epoch != "" {
		q.Set("seq", strconv.FormatUint(p.Seq, 10))
		q.Set("epoch", p.Epoch)
	} else if c.opts.Last > 0 {
		q.Set("last", strconv.Itoa(c.opts.Last))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
