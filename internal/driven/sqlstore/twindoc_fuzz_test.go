package sqlstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// FuzzDecodeValues: the fast decoder agrees with encoding/json on every
// input it accepts, and every document encodeValues writes is accepted by
// one of them with the same result.
func FuzzDecodeValues(f *testing.F) {
	tw, _ := benchTwin(benchDeviceID(1), time.Unix(1_800_000_000, 123456000))
	for _, s := range []string{
		encodeValues(tw.Reported), encodeValues(device.Values{}), encodeValues(nil), "{}", "null", "",
		`{"A":{"v":"x","t":1}}`, `{"A":{"t":1,"v":"x"}}`, `{"A": {"v":"x","t":1}}`, `{"A":{"v":"\u00e9","t":-5}}`,
		`{"A":{"v":"x","t":01}}`, `{"A":{"v":"x","t":1.0}}`, `{"A":{"v":"x","t":99999999999999999999}}`,
		`{"A":{"v":"\xff","t":1}}`, `{"A":{"v":"x","t":1},"A":{"v":"y","t":2}}`, `{"A":{"v":"x","t":1}} `, `{"A":{"v":"x","t":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decodeValuesFast(s)
		if !ok {
			return
		}
		var m map[string]docEntry
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json did not: %v", s, err)
		}
		want := make(device.Values, len(m))
		for k, e := range m {
			want[k] = device.Entry{Value: e.V, UpdatedAt: fromMicros(e.T)}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast %v, encoding/json %v", s, got, want)
		}
	})
}

func TestEncodedValuesTakeTheFastPath(t *testing.T) {
	tw, _ := benchTwin(benchDeviceID(1), time.Unix(1_800_000_000, 123456000))
	tw.Reported["odd"] = device.Entry{Value: "<é&>\n\"", UpdatedAt: time.Unix(-5, 0)}
	for _, v := range []device.Values{tw.Reported, {}, tw.Desired} {
		doc := encodeValues(v)
		got, err := decodeValues(doc)
		if err != nil || len(got) != len(v) {
			t.Fatalf("%s: %v %v", doc, got, err)
		}
		for k, e := range v {
			if g := got[k]; g.Value != e.Value || !g.UpdatedAt.Equal(e.UpdatedAt.Truncate(time.Microsecond)) {
				t.Fatalf("%s: %q = %+v, want %+v", doc, k, g, e)
			}
		}
	}
	if _, ok := decodeValuesFast(encodeValues(tw.Desired)); !ok {
		t.Fatal("a plain document missed the fast path")
	}
}
