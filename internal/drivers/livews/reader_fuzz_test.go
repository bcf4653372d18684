package livews

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

func maskedFrame(op byte, fin bool, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	out := []byte{b0, 0x80 | byte(len(p)), key[0], key[1], key[2], key[3]}
	for i, c := range p {
		out = append(out, c^key[i&3])
	}
	return out
}

// FuzzClientFrames feeds arbitrary bytes to the reader of client frames:
// it must never panic or hang, whatever it receives.
func FuzzClientFrames(f *testing.F) {
	f.Add(maskedFrame(opPing, true, []byte("x")))
	f.Add(append(maskedFrame(opPong, true, nil), maskedFrame(opClose, true, []byte{3, 232, 'o', 'k'})...))
	f.Add(maskedFrame(opText, true, []byte("hi")))
	f.Add(maskedFrame(opText, false, []byte{0xe2, 0x82}))
	f.Add(maskedFrame(opBinary, true, []byte{1}))
	f.Add(maskedFrame(opContinuation, true, nil))
	f.Add(maskedFrame(opClose, true, []byte{3}))
	f.Add(maskedFrame(opClose, true, []byte{3, 232, 0xff}))
	f.Add([]byte("\x81\x05hello"))
	f.Add([]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{0x89, 0xFE, 0, 200, 1, 2, 3, 4})
	f.Add([]byte{0xC1, 0x80, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		c := &conn{nc: &sockConn{Conn: a, br: bufio.NewReaderSize(a, readBufSize)}, state: live}
		go func() { _, _ = io.Copy(io.Discard, b) }()
		go func() {
			_, _ = b.Write(in)
			b.Close()
		}()
		done := make(chan struct{})
		go func() { c.read(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the reader did not end")
		}
		a.Close()
	})
}
