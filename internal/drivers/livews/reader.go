package livews

import (
	"encoding/binary"
	"io"
	"net"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Frame opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// read runs until the connection ends, in a goroutine of its own whose
// stack stays shallow while it waits. Clients send no data messages: the
// first one closes the connection with its RFC 6455 code (1009 over
// readLimit, 1003 binary, 1007 text that is not UTF-8, 1003 otherwise);
// a malformed frame (unmasked, reserved bits, unknown opcode, bad control
// frame) gets 1002. Pings are answered, pongs clear the pinger's flag, a
// close is echoed.
func (c *conn) read() {
	br := c.nc.br
	var hdr [8]byte
	var ctl [125]byte
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			c.fail(0, reasonClient, "")
			return
		}
		fin, rsv, op := hdr[0]&0x80 != 0, hdr[0]&0x70, hdr[0]&0x0F
		masked, n := hdr[1]&0x80 != 0, uint64(hdr[1]&0x7F)
		switch {
		case rsv != 0:
			c.refuse(websocket.StatusProtocolError, "reserved bits set: no extension was negotiated")
			return
		case !masked:
			c.refuse(websocket.StatusProtocolError, "client frames must be masked")
			return
		}
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[:2]); err != nil {
				c.fail(0, reasonClient, "")
				return
			}
			n = uint64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				c.fail(0, reasonClient, "")
				return
			}
			n = binary.BigEndian.Uint64(hdr[:8])
		}
		var key [4]byte
		if _, err := io.ReadFull(br, key[:]); err != nil {
			c.fail(0, reasonClient, "")
			return
		}
		switch op {
		case opPing, opPong, opClose:
			if !fin || n > 125 {
				c.refuse(websocket.StatusProtocolError, "control frames are single frames of at most 125 bytes")
				return
			}
			p := ctl[:n]
			if _, err := io.ReadFull(br, p); err != nil {
				c.fail(0, reasonClient, "")
				return
			}
			unmask(p, key)
			switch op {
			case opPing:
				if _, err := c.nc.Write(controlFrame(opPong, p)); err != nil {
					c.fail(0, reasonClient, "")
					return
				}
			case opPong:
				c.pong()
			case opClose:
				c.peerClosed(p)
				return
			}
		case opText, opBinary, opContinuation:
			switch {
			case n > readLimit:
				c.refuse(websocket.StatusMessageTooBig, "messages are limited to 4096 bytes")
			case op == opBinary:
				c.refuse(websocket.StatusUnsupportedData, "binary messages are not accepted")
			case op == opContinuation:
				c.refuse(websocket.StatusProtocolError, "continuation frame without a message")
			default:
				p := make([]byte, n)
				if _, err := io.ReadFull(br, p); err != nil {
					c.fail(0, reasonClient, "")
					return
				}
				unmask(p, key)
				if !validUTF8Prefix(p, fin) {
					c.refuse(websocket.StatusInvalidFramePayloadData, "text message is not valid UTF-8")
				} else {
					c.refuse(websocket.StatusUnsupportedData, "clients send no messages on this stream")
				}
			}
			return
		default:
			c.refuse(websocket.StatusProtocolError, "unknown opcode")
			return
		}
	}
}

// validUTF8Prefix: a fragment (fin false) may end inside a rune.
func validUTF8Prefix(p []byte, fin bool) bool {
	if utf8.Valid(p) {
		return true
	}
	if fin {
		return false
	}
	for cut := 1; cut <= 3 && cut <= len(p); cut++ {
		if utf8.Valid(p[:len(p)-cut]) && !utf8.FullRune(p[len(p)-cut:]) {
			return true
		}
	}
	return false
}

func unmask(p []byte, key [4]byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// controlFrame builds an unmasked control frame (payload ≤ 125 bytes).
func controlFrame(op byte, p []byte) []byte {
	return append([]byte{0x80 | op, byte(len(p))}, p...)
}

// closeFrame builds a close frame; reason is cut to fit 123 bytes.
func closeFrame(code websocket.StatusCode, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return controlFrame(opClose, append(p, reason...))
}

// refuse answers a client's protocol error: a close frame with code, then
// the lingering close (the client's unread bytes must not turn our close
// into a reset that could destroy the close frame in flight).
func (c *conn) refuse(code websocket.StatusCode, msg string) {
	c.mu.Lock()
	first := c.state != closing
	if first {
		c.state, c.reason = closing, reasonProtocol
		c.pending, c.queue = nil, nil
	}
	c.mu.Unlock()
	if first {
		_ = c.nc.writeWithin([][]byte{closeFrame(code, msg)}, time.Now().Add(closeWait))
	}
	c.linger()
}

// peerClosed handles the client's close frame: echoed with its code (none
// for an empty one) unless we sent ours first, then the socket is closed.
func (c *conn) peerClosed(p []byte) {
	c.mu.Lock()
	first := c.state != closing
	if first {
		c.state, c.reason = closing, reasonClient
		c.pending, c.queue = nil, nil
	}
	c.mu.Unlock()
	if first {
		echo := controlFrame(opClose, nil)
		switch {
		case len(p) == 1:
			echo = closeFrame(websocket.StatusProtocolError, "close payload of one byte")
		case len(p) >= 2 && !utf8.Valid(p[2:]):
			echo = closeFrame(websocket.StatusInvalidFramePayloadData, "close reason is not UTF-8")
		case len(p) >= 2:
			echo = controlFrame(opClose, p[:2])
		}
		_ = c.nc.writeWithin([][]byte{echo}, time.Now().Add(closeWait))
	}
	c.linger()
}

// linger half-closes, discards what the client still sends for up to
// closeWait, and closes.
func (c *conn) linger() {
	if tc, ok := c.nc.Conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = c.nc.Conn.SetReadDeadline(time.Now().Add(closeWait))
	_, _ = io.Copy(io.Discard, c.nc.br)
	c.nc.Conn.Close()
}
