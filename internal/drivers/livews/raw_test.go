package livews_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/drivers/livews"
)

// rawDial does the opening handshake by hand and returns the socket.
func rawDial(t *testing.T, e *env) (net.Conn, *bufio.Reader) {
	t.Helper()
	addr := strings.TrimPrefix(e.url, "ws://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws?deviceId="+e.dev+" HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer "+e.key+"\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return c, br
}

// rawFrames reads server frames until a close frame or EOF.
func rawFrames(t *testing.T, br *bufio.Reader) (ops []byte, closeCode int) {
	t.Helper()
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return ops, -1
		}
		if h[1]&0x80 != 0 {
			t.Fatal("masked server frame")
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			io.ReadFull(br, b[:])
			n = int(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			io.ReadFull(br, b[:])
			n = int(binary.BigEndian.Uint64(b[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return ops, -1
		}
		ops = append(ops, h[0]&0x0f)
		if h[0]&0x0f == 8 {
			return ops, int(binary.BigEndian.Uint16(p))
		}
	}
}

func masked(op byte, p []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	b := []byte{0x80 | op, 0x80 | byte(len(p)), 1, 2, 3, 4}
	for i, c := range p {
		b = append(b, c^key[i%4])
	}
	return b
}

func TestRawCloseIsEchoed(t *testing.T) {
	e := newEnv(t, livews.Options{})
	c, br := rawDial(t, e)
	c.Write(masked(8, []byte{0x03, 0xe8}))
	ops, code := rawFrames(t, br)
	if code != 1000 || ops[0] != 1 {
		t.Fatalf("frames %v, close %d", ops, code)
	}
}

func TestRawUnmaskedFrameIsProtocolError(t *testing.T) {
	e := newEnv(t, livews.Options{})
	c, br := rawDial(t, e)
	c.Write([]byte("\x81\x05hello"))
	ops, code := rawFrames(t, br)
	if code != 1002 {
		t.Fatalf("frames %v, close %d", ops, code)
	}
}

// Bytes the client sends together with its handshake are not lost.
func TestRawFrameRightAfterHandshake(t *testing.T) {
	e := newEnv(t, livews.Options{})
	addr := strings.TrimPrefix(e.url, "ws://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET /ws?deviceId=" + e.dev + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer " + e.key + "\r\n\r\n"
	c.Write(append([]byte(req), masked(1, []byte("ok \xff\xfe"))...)) // one write: the frame is buffered with the request
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if ops, code := rawFrames(t, br); code != 1007 {
		t.Fatalf("frames %v, close %d, want 1007", ops, code)
	}
}

func TestRawHandshakeRefusals(t *testing.T) {
	e := newEnv(t, livews.Options{})
	addr := strings.TrimPrefix(e.url, "ws://")
	for _, tc := range []struct {
		name, extra string
		want        int
	}{
		{"version 8", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n", 426},
		{"no upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 426},
		{"bad key", "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n", 400},
		{"good", "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 101},
	} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /ws?deviceId="+e.dev+" HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: Bearer "+e.key+"\r\n"+tc.extra+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != tc.want {
			t.Errorf("%s: %v %v, want %d", tc.name, resp, err, tc.want)
			continue
		}
		if tc.want == 101 && resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
			t.Errorf("accept header %q", resp.Header.Get("Sec-WebSocket-Accept"))
		}
		if tc.want == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Errorf("%s: no Sec-WebSocket-Version: 13 in the 426", tc.name)
		}
	}
}
