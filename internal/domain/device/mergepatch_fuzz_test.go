package device

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
)

// FuzzParseMergePatch: any input is either a clear CodeInvalid or a patch
// within the limits that survives a round trip through JSON.
func FuzzParseMergePatch(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":"1","b":null}`, `{"a":1}`, `{"a":{"b":"c"}}`, `[]`, `null`, `{"a":"1"} x`, `{"a":"1","a":"2"}`,
		`{"bad key":"x"}`, `{"k":"\u00e9\ud83d\ude00"}`, `{"k":"` + string(make([]byte, 300)) + `"}`, `{"k":"1"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseMergePatch("fuzz", b)
		if err != nil {
			if !domain.Is(err, domain.CodeInvalid) || domain.ErrorMessage(err) == "" {
				t.Fatalf("error %v is not a clear invalid_argument", err)
			}
			return
		}
		plain := map[string]*string{}
		for k, v := range p {
			if !validKey(k) || v != nil && (len(*v) > MaxConfigValLen || !utf8.ValidString(*v)) {
				t.Fatalf("accepted %q = %v", k, v)
			}
			plain[k] = v
		}
		again, err := json.Marshal(plain)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := ParseMergePatch("fuzz", again)
		if err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip %s: %v %v", again, p2, err)
		}
		if _, _, err := p.apply("fuzz", Values{}, domain.SystemClock{}.Now()); err != nil && !domain.Is(err, domain.CodeInvalid) {
			t.Fatal(err)
		}
	})
}
