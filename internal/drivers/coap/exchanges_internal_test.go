package coap

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/testinfra/gcscan"
)

// A retransmission gets the first answer byte for byte, whether it was kept
// inside the exchange (short) or beside it (long), and nothing while the
// first copy is still being processed or when it had no answer.
func TestExchangesKeepTheAnswerExactly(t *testing.T) {
	x := newExchanges(time.Minute, 8)
	now := time.Unix(1000, 0)
	peer := peerKeyOf(netip.MustParseAddrPort("192.0.2.1:5683"))
	answers := map[uint16][]byte{
		1: bytes.Repeat([]byte{0x61}, 4),
		2: bytes.Repeat([]byte{0x62}, exInline),
		3: bytes.Repeat([]byte{0x63}, exInline+1),
		4: bytes.Repeat([]byte{0x64}, 1200),
		5: nil, // dropped: no answer
	}
	for mid, want := range answers {
		k := exKey{peer, mid}
		if _, first := x.claim(k, now); !first {
			t.Fatalf("mid %d: first copy not first", mid)
		}
		if resp, first := x.claim(k, now); first || resp != nil {
			t.Fatalf("mid %d: duplicate during processing got %x, first %v", mid, resp, first)
		}
		x.done(k, want)
		resp, first := x.claim(k, now)
		if first || !bytes.Equal(resp, want) || (want == nil) != (resp == nil) {
			t.Fatalf("mid %d: retransmission got %x, want %x", mid, resp, want)
		}
		if len(resp) > 0 && len(resp) <= exInline {
			resp[0] ^= 0xff // a copy of an inline answer: the kept one does not change
			if again, _ := x.claim(k, now); !bytes.Equal(again, want) {
				t.Fatalf("mid %d: kept answer changed to %x", mid, again)
			}
		}
	}
}

// The exchange state is memory the GC never scans: no pointer in the map's
// keys and values, the ring or the per-peer counts (see exchanges).
func TestExchangeStateHasNoPointers(t *testing.T) {
	for _, v := range []any{exKey{}, exchange{}, peerKey{}} {
		if p := gcscan.Pointer(reflect.TypeOf(v)); p != "" {
			t.Errorf("%T holds a pointer: %s", v, p)
		}
	}
}
