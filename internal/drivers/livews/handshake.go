package livews

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// The server side of RFC 6455 is ours, not the WebSocket library's: the
// opening handshake (here), frames out (frame.go, built once per line for
// every subscriber) and client frames in (reader.go). After the upgrade a
// subscriber is a socket, a 512-byte read buffer and one goroutine parked
// in a shallow read: ~10 KiB RSS per idle subscriber, where the library's
// connection (its own buffers, state and deeper read path) cost ~14. The
// tests speak to it with the library's client, Python's websockets and raw
// sockets.

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// handshake validates the upgrade request; a non-nil refusal is answered
// before anything is hijacked.
func handshake(r *http.Request) (key string, proto bool, rf *refusal) {
	switch {
	case r.Method != http.MethodGet:
		return "", false, &refusal{http.StatusMethodNotAllowed, "a WebSocket upgrade is a GET"}
	case r.ProtoMajor != 1 || r.ProtoMinor < 1:
		return "", false, &refusal{http.StatusUpgradeRequired, "WebSocket upgrades need HTTP/1.1"}
	case !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket"):
		return "", false, &refusal{http.StatusUpgradeRequired, "not a WebSocket upgrade request"}
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "", false, &refusal{http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version: want 13"}
	}
	key = strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return "", false, &refusal{http.StatusBadRequest, "bad Sec-WebSocket-Key"}
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				proto = true
			}
		}
	}
	return key, proto, nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// upgradeConn writes the 101 answer and takes the connection from net/http.
func upgradeConn(w http.ResponseWriter, key string, proto bool) (*sockConn, error) {
	rc := http.NewResponseController(w)
	conn, brw, err := rc.Hijack()
	if err != nil {
		return nil, err
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(key) + "\r\n"
	if proto {
		resp += "Sec-WebSocket-Protocol: " + Subprotocol + "\r\n"
	}
	resp += "\r\n"
	if _, err := conn.Write([]byte(resp)); err != nil {
		conn.Close()
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// A bounded kernel send buffer: a subscriber that stops reading
		// fills it (and then its queue) sooner, so it is dropped sooner;
		// and 20,000 idle subscribers do not each pin megabytes.
		_ = tc.SetWriteBuffer(sendBufSize)
	}
	sc := &sockConn{Conn: conn}
	if s, ok := conn.(syscall.Conn); ok {
		sc.raw, _ = s.SyscallConn()
	}
	sc.br = brw.Reader
	if sc.br.Buffered() == 0 { // nothing sent early: a small reader will do
		sc.br = bufio.NewReaderSize(conn, readBufSize)
	}
	return sc, nil
}
