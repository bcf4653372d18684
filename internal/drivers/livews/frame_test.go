package livews

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The hand-built frames are what RFC 6455 says: FIN text, unmasked, the
// shortest length encoding.
func TestTextFrameLengths(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte("x"), n)
		f := textFrame(p)
		if f[0] != 0x81 || f[1]&0x80 != 0 {
			t.Fatalf("%d: header %x", n, f[:2])
		}
		var got, hdr int
		switch l := int(f[1]); {
		case l < 126:
			got, hdr = l, 2
		case l == 126:
			got, hdr = int(binary.BigEndian.Uint16(f[2:4])), 4
			if got < 126 {
				t.Fatalf("%d: not the shortest encoding", n)
			}
		default:
			got, hdr = int(binary.BigEndian.Uint64(f[2:10])), 10
			if got < 1<<16 {
				t.Fatalf("%d: not the shortest encoding", n)
			}
		}
		if got != n || len(f) != hdr+n || !bytes.Equal(framePayload(f), p) {
			t.Fatalf("%d: length %d, frame %d bytes", n, got, len(f))
		}
	}
}

// RFC 6455 section 1.3's example.
func TestAcceptKey(t *testing.T) {
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept key %q", got)
	}
}
