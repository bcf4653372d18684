package livelogclient

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// decodeLine is decode's fast path for the frame that makes up nearly the
// whole stream, a line (docs/live-logs.md, Lines). It reads Line's fields
// straight from the bytes, without reflection and without copying data,
// and gives up (ok false) on anything it does not expect, leaving the
// frame to json.Unmarshal: escapes or invalid UTF-8 in a string (the
// decoder would rewrite them), null, a number that is not a plain unsigned
// integer for seq or prev, a key that differs from a field's name only by
// case (the decoder folds case), any field of a hello or control, seq 0,
// prev ≥ seq, any syntax error. When it succeeds the result is exactly
// what the slow path gives (FuzzDecodeLine checks it), except that Data
// shares the frame's bytes, as Raw does.
func decodeLine(b []byte) (*Line, bool) {
	var l Line
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return nil, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipSpace(b, i+1)
		switch string(key) {
		case "seq":
			l.Seq, i, ok = plainUint(b, i)
		case "prev":
			l.Prev, i, ok = plainUint(b, i)
		case "deviceId", "type", "message", "epoch":
			var s []byte
			if s, i, ok = plainString(b, i); ok {
				switch string(key) {
				case "deviceId":
					l.DeviceID = string(s)
				case "type":
					l.Type = string(s)
				case "message":
					l.Message = string(s)
				default:
					l.Epoch = string(s)
				}
			}
		case "timestamp":
			start := i
			if _, i, ok = plainString(b, i); ok {
				ok = l.Timestamp.UnmarshalJSON(b[start:i]) == nil
			}
		case "data":
			start := i
			if i, ok = skipValue(b, i); ok && b[start] != 'n' {
				l.Data = json.RawMessage(b[start:i:i])
			} else {
				ok = false
			}
		default:
			if frameField(key) {
				return nil, false
			}
			i, ok = skipValue(b, i)
		}
		if !ok {
			return nil, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
	if skipSpace(b, i+1) != len(b) || l.Seq == 0 || l.Prev >= l.Seq {
		return nil, false
	}
	l.Raw = b
	return &l, true
}

// frameFields are the JSON names of frame's fields.
var frameFields = []string{"type", "deviceId", "timestamp", "message", "data", "seq", "prev", "epoch",
	"recovered", "reason", "gap", "lastSeq", "attempt", "delayMs", "error"}

// frameField: json.Unmarshal would store key's value in a field of frame
// (it matches names without regard to case; a non-ASCII key might fold to
// one too).
func frameField(key []byte) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, f := range frameFields {
		if strings.EqualFold(string(key), f) {
			return true
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the string at b[i] when it needs no unescaping: its
// content and the index after its closing quote.
func plainString(b []byte, i int) (s []byte, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s = b[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// plainUint reads a JSON number that is a plain unsigned integer fitting
// in 64 bits.
func plainUint(b []byte, i int) (n uint64, end int, ok bool) {
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		d := uint64(b[j] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, 0, false
		}
		n = n*10 + d
		j++
	}
	switch {
	case j == i, b[i] == '0' && j > i+1:
		return 0, 0, false
	case j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E'):
		return 0, 0, false
	}
	return n, j, true
}

// skipValue finds the end of the JSON value at b[i] and checks it is one.
func skipValue(b []byte, i int) (end int, ok bool) {
	if i >= len(b) {
		return 0, false
	}
	j := i
	switch b[i] {
	case '"':
		j = skipString(b, i)
	case '{', '[':
		depth := 0
	scan:
		for j < len(b) {
			switch b[j] {
			case '"':
				j = skipString(b, j)
				if j < 0 {
					return 0, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					j++
					break scan
				}
			}
			j++
		}
	default:
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' &&
			b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
	}
	if j <= i || !json.Valid(b[i:j]) {
		return 0, false
	}
	return j, true
}

// skipString returns the index after the string starting at b[i], -1 if
// it does not end.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}
