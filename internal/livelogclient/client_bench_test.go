package livelogclient

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkClientLines: one Client following a stream of line frames over
// loopback, the server side a raw socket writing pre-built frames in
// batches (as serve's writev does), so the time is the client's: WebSocket
// read, decode, continuity check, one handler call per line.
//
//	go test -run XXX -bench ClientLines -benchmem ./internal/livelogclient
func BenchmarkClientLines(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go serveLines(b, ln, b.N)
	c, err := New(Options{URL: "http://" + ln.Addr().String(), DeviceID: "dev_1"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	err = c.Run(ctx, func(ev Event) error {
		switch ev.Kind {
		case KindLine:
			n++
			if n == b.N {
				cancel()
			}
		case KindGap, KindReconnecting:
			b.Errorf("unexpected %v: %+v", ev.Kind, ev)
			cancel()
		}
		return nil
	})
	if err != nil || n != b.N {
		b.Fatalf("%d of %d lines: %v", n, b.N, err)
	}
}

// serveLines accepts one WebSocket by hand and writes a hello and n lines.
func serveLines(b *testing.B, ln net.Listener, n int) {
	nc, err := ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	req, err := http.ReadRequest(bufio.NewReader(nc))
	if err != nil {
		b.Error(err)
		return
	}
	h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: " +
		Subprotocol + "\r\nSec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n"))
	buf := appendText(nil, []byte(`{"type":"hello","deviceId":"dev_1","epoch":"18a4c2f1e0b2d3c4","recovered":true,"lastSeq":0}`))
	var line []byte
	for seq := 1; seq <= n; seq++ {
		line = append(line[:0], `{"deviceId":"dev_1","timestamp":"2026-11-23T14:50:01.123456789Z","type":"uplink","message":"Received uplink #`...)
		line = strconv.AppendInt(line, int64(seq), 10)
		line = append(line, `","data":{"uplinkCount":7,"temperatures":[21.5,-3.75]},"seq":`...)
		line = strconv.AppendInt(line, int64(seq), 10)
		line = append(line, `,"prev":`...)
		line = strconv.AppendInt(line, int64(seq-1), 10)
		line = append(line, `,"epoch":"18a4c2f1e0b2d3c4"}`...)
		buf = appendText(buf, line)
		if len(buf) > 32<<10 || seq == n {
			if _, err := nc.Write(buf); err != nil {
				return
			}
			buf = buf[:0]
		}
	}
	nc.Read(make([]byte, 1)) // until the client goes
}

func appendText(b, p []byte) []byte {
	if len(p) < 126 {
		b = append(b, 0x81, byte(len(p)))
	} else {
		b = append(b, 0x81, 126, byte(len(p)>>8), byte(len(p)))
	}
	return append(b, p...)
}
