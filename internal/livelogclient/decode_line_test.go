package livelogclient

import (
	"reflect"
	"testing"
)

// decodeSeeds are frames as serve and the relay send them, and near misses.
var decodeSeeds = []string{
	`{"deviceId":"dev_01","timestamp":"2026-11-23T14:50:01.123456789Z","type":"uplink","message":"Received uplink #7","data":{"uplinkCount":7,"t":[21.5,-3.75]},"seq":4712,"prev":4711,"epoch":"18a4c2f1e0b2d3c4"}`,
	`{"deviceId":"dev_01","timestamp":"2026-11-23T14:50:01Z","type":"error","message":"bad","seq":1,"prev":0,"epoch":"e"}`,
	` { "seq" : 5 , "prev" : 3 , "data" : [ 1 , { "a" : "}" } ] , "x" : null } `,
	`{"seq":5,"prev":3,"message":"caf\u00e9"}`,
	`{"seq":5,"prev":3,"message":"café"}`,
	`{"seq":5,"prev":3,"Seq":6}`,
	`{"seq":5,"prev":5}`,
	`{"seq":05,"prev":3}`,
	`{"seq":5.0,"prev":3}`,
	`{"seq":18446744073709551616,"prev":3}`,
	`{"seq":18446744073709551615,"prev":3}`,
	`{"seq":5,"prev":3,"data":null}`,
	`{"seq":5,"prev":3,"timestamp":"2026-13-01T00:00:00Z"}`,
	`{"seq":5,"prev":3,"timestamp":null}`,
	`{"seq":5,"prev":3,"recovered":"yes"}`,
	`{"seq":5,"prev":3}x`,
	`{"seq":5,"prev":3,}`,
	`{"seq":5,"prev":3,"data":{"a":1]}`,
	`{"type":"hello","deviceId":"d","epoch":"e","recovered":true,"lastSeq":4711}`,
	`{"type":"reconnecting","deviceId":"d","attempt":2,"delayMs":150}`,
	`{}`,
	``,
}

// The fast path agrees with json.Unmarshal on every frame it accepts.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeLine(b)
		sl, sh, sc, err := decodeJSON(b)
		if !ok {
			return
		}
		if err != nil || sl == nil || sh != nil || sc != nil {
			t.Fatalf("fast path took %q; json.Unmarshal: %v %v %v %v", b, sl, sh, sc, err)
		}
		if !reflect.DeepEqual(fast, sl) {
			t.Fatalf("%q:\nfast %+v\njson %+v", b, *fast, *sl)
		}
	})
}

func TestDecodeLineFastPath(t *testing.T) {
	for i, s := range decodeSeeds {
		b := []byte(s)
		fast, ok := decodeLine(b)
		sl, _, _, err := decodeJSON(b)
		want := i <= 2 || i == 4 || i == 10 // the frames the fast path must take (not escapes: index 3)
		if ok != want {
			t.Errorf("%s: fast path %v, want %v", s, ok, want)
		}
		if ok && (err != nil || !reflect.DeepEqual(fast, sl)) {
			t.Errorf("%s: fast %+v, json %+v %v", s, fast, sl, err)
		}
		l, h, c, err2 := decode(b)
		l2, h2, c2, err3 := decodeJSON(b)
		if (err2 == nil) != (err3 == nil) || !reflect.DeepEqual(l, l2) || !reflect.DeepEqual(h, h2) || !reflect.DeepEqual(c, c2) {
			t.Errorf("%s: decode and decodeJSON differ", s)
		}
	}
}

var benchFrame = []byte(decodeSeeds[0])

func BenchmarkDecodeLine(b *testing.B) {
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, _, _, err := decode(benchFrame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, _, _, err := decodeJSON(benchFrame); err != nil {
				b.Fatal(err)
			}
		}
	})
}
