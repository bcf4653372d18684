package livews

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Buffer sizes of a subscriber's socket. net/http hands over 4 KiB for each
// direction; an idle subscriber needs neither: clients send only pongs and
// closes (a few bytes), and the library writes only control frames (at most
// 139 bytes, one Write each: the 512-byte buffer is empty before each, as
// every control frame is flushed). Small buffers keep a subscriber small.
const (
	readBufSize  = 512
	writeBufSize = 512
	sendBufSize  = 128 << 10 // SO_SNDBUF
)

// sockConn is the subscriber's TCP connection under the WebSocket library.
// Data frames do not go through the library: they are built once per line
// for every subscriber (frame.go) and written here, a batch at a time with
// one writev(2). The library still writes control frames (pongs, pings,
// closes), each in a single Write; the mutex keeps whole writes apart, so
// frames never interleave. It also gives the server a way to drop a socket
// whose writes are stuck (Close on the raw connection), which the library's
// own close handshake cannot do.
type sockConn struct {
	net.Conn
	mu sync.Mutex
}

func (c *sockConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// writeWithin is writeFrames with a write deadline, set and cleared under
// the lock so no other write inherits it.
func (c *sockConn) writeWithin(frames [][]byte, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.Conn.SetWriteDeadline(deadline)
	defer c.Conn.SetWriteDeadline(time.Time{})
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(c.Conn)
	return err
}

// writeFrames writes complete frames in order. It consumes frames (the
// slice headers in it are advanced past what was written); the bytes they
// point at, shared with other subscribers, are only read.
func (c *sockConn) writeFrames(frames [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(frames) == 1 {
		_, err := c.Conn.Write(frames[0])
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(c.Conn)
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
