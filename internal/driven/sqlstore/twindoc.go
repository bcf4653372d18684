package sqlstore

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
)

// Every uplink reads its device's twin, so its configuration documents are
// decoded per uplink: through encoding/json that was 80 allocations for 20
// keys. Documents are written by encodeValues alone, so decodeValues reads
// exactly that shape, {"KEY":{"v":"value","t":micros},...} with strings
// free of escapes, and takes keys and values as substrings of the column
// (no copies). Anything else goes to encoding/json, which gives the same
// result (a fuzz test holds the two together).

func decodeValues(s string) (device.Values, error) {
	if v, ok := decodeValuesFast(s); ok {
		return v, nil
	}
	var m map[string]docEntry
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, &domain.Error{Code: domain.CodeInternal, Op: "sqlstore", Msg: "corrupt configuration document", Err: err}
	}
	out := make(device.Values, len(m))
	for k, e := range m {
		out[k] = device.Entry{Value: e.V, UpdatedAt: fromMicros(e.T)}
	}
	return out, nil
}

func decodeReasons(s string) (map[string]string, error) {
	if s == "{}" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, &domain.Error{Code: domain.CodeInternal, Op: "sqlstore", Msg: "corrupt reasons", Err: err}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// decodeValuesFast parses what encodeValues writes; ok is false for
// anything else (the caller then uses encoding/json).
func decodeValuesFast(s string) (device.Values, bool) {
	p := docParser{s: s}
	if !p.lit("{") {
		return nil, false
	}
	out := make(device.Values, countEntries(s))
	if p.lit("}") {
		return out, p.i == len(s)
	}
	for {
		k, ok := p.str()
		if !ok || !p.lit(`:{"v":`) {
			return nil, false
		}
		v, ok := p.str()
		if !ok || !p.lit(`,"t":`) {
			return nil, false
		}
		t, ok := p.int()
		if !ok || !p.lit("}") {
			return nil, false
		}
		out[k] = device.Entry{Value: v, UpdatedAt: fromMicros(t)}
		if p.lit("}") {
			return out, p.i == len(s)
		}
		if !p.lit(",") {
			return nil, false
		}
	}
}

// countEntries sizes the map: every entry has one `{"v":`.
func countEntries(s string) int {
	n := 0
	for i := 0; i+5 <= len(s); i++ {
		if s[i] == '{' && s[i+1] == '"' && s[i+2] == 'v' && s[i+3] == '"' && s[i+4] == ':' {
			n++
		}
	}
	return n
}

type docParser struct {
	s string
	i int
}

func (p *docParser) lit(l string) bool {
	if len(p.s)-p.i >= len(l) && p.s[p.i:p.i+len(l)] == l {
		p.i += len(l)
		return true
	}
	return false
}

// str reads a quoted string without escapes, control characters or invalid
// UTF-8 (encoding/json would rewrite those).
func (p *docParser) str() (string, bool) {
	if !p.lit(`"`) {
		return "", false
	}
	start, ascii := p.i, true
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			return v, ascii || utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// int reads an integer as encoding/json writes one (no sign but '-', no
// leading zeros, no fraction or exponent).
func (p *docParser) int() (int64, bool) {
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || p.s[digits] == '0' && p.i-digits > 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	return n, err == nil
}
