package livews

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// Buffer sizes of a subscriber's socket. net/http hands over 4 KiB for each
// direction; an idle subscriber needs neither: clients send only pongs and
// closes (a few bytes), and what we send is collected by sockConn (below)
// and written in one go. Small buffers keep an idle subscriber small.
const (
	readBufSize  = 512
	writeBufSize = 512
	sendBufSize  = 128 << 10 // SO_SNDBUF
)

// sockConn is the subscriber's TCP connection under the WebSocket library.
// It lets the writer put a whole batch of frames into one write(2): while
// corked, what the library flushes (frame by frame) is collected, and uncork
// writes it at once; frames written while not corked (pongs, closes) go
// straight through. The collected buffer is dropped after each batch, so an
// idle subscriber holds none. It also gives the server a way to drop a
// socket whose writes are stuck (Close on the raw connection), which the
// library's own close handshake cannot do.
type sockConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *sockConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *sockConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was collected. The lock is held during the write so a
// frame written meanwhile by another goroutine (a pong, a close) cannot
// overtake the batch; if the write is stuck, closing the raw connection
// releases it.
func (c *sockConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	buf := c.buf
	c.buf = nil
	if len(buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(buf)
	return err
}

// hijackWriter hands the WebSocket library a sockConn and small buffers
// when it hijacks the connection.
type hijackWriter struct {
	http.ResponseWriter
	conn *sockConn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("live-log stream: the response writer cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // anything net/http still held goes out first
		conn.Close()
		return nil, nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// A bounded kernel send buffer: a subscriber that stops reading
		// fills it (and then its queue) sooner, so it is dropped sooner;
		// and 20,000 idle subscribers do not each pin megabytes.
		_ = tc.SetWriteBuffer(sendBufSize)
	}
	w.conn = &sockConn{Conn: conn}
	br := brw.Reader
	if br.Buffered() == 0 {
		// The library re-points the reader at the connection after the
		// handshake (keeping what it buffered), so a fresh small one
		// loses nothing. With early bytes buffered, keep net/http's.
		br = bufio.NewReaderSize(w.conn, readBufSize)
	}
	return w.conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.conn, writeBufSize)), nil
}
