package livews

import (
	"bufio"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"
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
	br   *bufio.Reader   // the client's frames
	raw  syscall.RawConn // for tryWrite; nil if the connection has none
	mu   sync.Mutex
	tail []byte // unwritten end of a frame tryWrite started: goes out before anything else
}

func (c *sockConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flushTailLocked(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *sockConn) flushTailLocked() error {
	if len(c.tail) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.tail)
	c.tail = nil
	return err
}

// tryWrite is the fast path of a live line: when nobody is writing to the
// socket, write frame with one non-blocking write(2) from the caller's
// goroutine (the hub's), with no goroutine, timer or queue. attempted is
// false when the socket is busy (the caller queues the frame instead). If
// the kernel took only part of the frame (its buffer is nearly full), the
// rest is kept and rest is true: the caller must start a writer, and every
// later write sends the rest first, so frames never interleave.
func (c *sockConn) tryWrite(frame []byte) (attempted, rest bool, err error) {
	if c.raw == nil || !c.mu.TryLock() {
		return false, false, nil
	}
	defer c.mu.Unlock()
	if len(c.tail) > 0 {
		return false, false, nil
	}
	n := 0
	var werr error
	cerr := c.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), frame)
			if werr != syscall.EINTR {
				return true // never wait for writability here
			}
		}
	})
	switch {
	case cerr != nil:
		return true, false, cerr
	case werr == syscall.EAGAIN:
		n = 0
	case werr != nil:
		return true, false, werr
	}
	if n < len(frame) {
		c.tail = frame[n:]
		return true, true, nil
	}
	return true, false, nil
}

// maxIovecs bounds one writev(2) (IOV_MAX on Linux).
const maxIovecs = 1024

// tryWritev is tryWrite for several frames: one non-blocking writev(2)
// from the caller's goroutine (the hub's flusher), with iov as scratch
// space. sent is how many frames went out whole. When the kernel took only
// part (rest), frames[sent] was started and its unwritten end is kept, as
// tryWrite does; the caller queues frames[sent+1:] for a writer. When it
// took nothing (EAGAIN) or not all of frames, the caller queues the rest:
// sent < len(frames) with rest false. attempted is false when the socket is
// busy.
func (c *sockConn) tryWritev(frames [][]byte, iov []syscall.Iovec) (attempted bool, sent int, rest bool, iovOut []syscall.Iovec, err error) {
	if len(frames) == 1 {
		attempted, rest, err = c.tryWrite(frames[0])
		if attempted && !rest && err == nil {
			sent = 1
		}
		return attempted, sent, rest, iov, err
	}
	if c.raw == nil || !c.mu.TryLock() {
		return false, 0, false, iov, nil
	}
	defer c.mu.Unlock()
	if len(c.tail) > 0 {
		return false, 0, false, iov, nil
	}
	frames = frames[:min(len(frames), maxIovecs)]
	iov = iov[:0]
	for _, f := range frames {
		v := syscall.Iovec{Base: &f[0]}
		v.SetLen(len(f))
		iov = append(iov, v)
	}
	var n int
	var werr error
	cerr := c.raw.Write(func(fd uintptr) bool {
		for {
			r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
			n, werr = int(r), nil
			if e != 0 {
				n, werr = 0, e
			}
			if werr != syscall.EINTR {
				return true // never wait for writability here
			}
		}
	})
	clear(iov) // no pointers into shared frames stay behind
	switch {
	case cerr != nil:
		return true, 0, false, iov, cerr
	case werr == syscall.EAGAIN:
		return true, 0, false, iov, nil
	case werr != nil:
		return true, 0, false, iov, werr
	}
	for _, f := range frames {
		if n < len(f) {
			if n > 0 {
				c.tail = f[n:]
				return true, sent, true, iov, nil
			}
			return true, sent, false, iov, nil
		}
		n -= len(f)
		sent++
	}
	return true, sent, false, iov, nil
}

// writeWithin is writeFrames with a write deadline, set and cleared under
// the lock so no other write inherits it.
func (c *sockConn) writeWithin(frames [][]byte, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.Conn.SetWriteDeadline(deadline)
	defer c.Conn.SetWriteDeadline(time.Time{})
	if err := c.flushTailLocked(); err != nil {
		return err
	}
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
	if err := c.flushTailLocked(); err != nil {
		return err
	}
	if len(frames) == 0 {
		return nil
	}
	if len(frames) == 1 {
		_, err := c.Conn.Write(frames[0])
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(c.Conn)
	return err
}
