package device

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
)

// Patch is a parsed JSON merge patch (RFC 7396) of a flat configuration
// document: a nil value deletes the key.
type Patch map[string]*string

// ParseMergePatch decodes a merge patch: one JSON object whose members are
// strings (set) or null (delete). Anything else (other types, nesting,
// duplicate members, trailing data, more than MaxPatchBytes) is
// CodeInvalid with a message naming the key.
func ParseMergePatch(op string, b []byte) (Patch, error) {
	bad := func(format string, a ...any) error { return domain.Errorf(domain.CodeInvalid, op, format, a...) }
	if len(b) > MaxPatchBytes {
		return nil, bad("merge_patch: at most %d bytes", MaxPatchBytes)
	}
	if !utf8.Valid(b) {
		return nil, bad("merge_patch: not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, bad("merge_patch: must be a JSON object of \"KEY\": \"value\" or null")
	}
	p := Patch{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, bad("merge_patch: not valid JSON")
		}
		k, _ := kt.(string)
		if _, dup := p[k]; dup {
			return nil, bad("merge_patch: key %.64q appears twice", k)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad("merge_patch: not valid JSON")
		}
		if !validKey(k) {
			return nil, bad("key %.64q: 1..%d bytes of [A-Za-z0-9_.-]", k, MaxConfigKeyLen)
		}
		if string(raw) == "null" {
			p[k] = nil
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, bad("value of %s: must be a string or null", k)
		}
		if len(v) > MaxConfigValLen || !utf8.ValidString(v) {
			return nil, bad("value of %s: at most %d bytes of UTF-8", k, MaxConfigValLen)
		}
		p[k] = &v
		if len(p) > MaxDocKeys*2 {
			return nil, bad("merge_patch: at most %d keys", MaxDocKeys*2)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad("merge_patch: not valid JSON")
	}
	if _, err := dec.Token(); err == nil {
		return nil, bad("merge_patch: trailing data after the object")
	}
	return p, nil
}

// Change is one key's change in a document.
type ConfigChange struct {
	ID        string
	DeviceID  string // "" for the account's defaults
	AccountID string
	Key       string
	Old, New  *string // nil: absent before / deleted
	// Version is the effective version the change produced for a device
	// (what its ack names), or the defaults version.
	Version uint64
	Actor   string
	At      time.Time
	AckedAt time.Time
}

// Actors recorded in the history besides principals.
const ActorEnrolment = "enrolment"

// apply merges p into v and returns the changes in key order. Values equal
// to the current one are no change. The result is checked against
// MaxDocKeys.
func (p Patch) apply(op string, v Values, now time.Time) (Values, []ConfigChange, error) {
	out := maps.Clone(v)
	if out == nil {
		out = Values{}
	}
	var changes []ConfigChange
	for _, k := range slices.Sorted(maps.Keys(p)) {
		nv := p[k]
		cur, had := out[k]
		var old *string
		if had {
			s := cur.Value
			old = &s
		}
		switch {
		case nv == nil && !had, nv != nil && had && cur.Value == *nv:
			continue
		case nv == nil:
			delete(out, k)
		default:
			out[k] = Entry{Value: *nv, UpdatedAt: now}
		}
		changes = append(changes, ConfigChange{Key: k, Old: old, New: nv, At: now})
	}
	if len(out) > MaxDocKeys {
		return nil, nil, domain.Errorf(domain.CodeInvalid, op, "the document would have %d keys; at most %d", len(out), MaxDocKeys)
	}
	return out, changes, nil
}

// entryProblem says why a reported entry is not kept ("" = fine).
func entryProblem(k, v string) string {
	switch {
	case !validKey(k):
		return fmt.Sprintf("key is not 1..%d bytes of [A-Za-z0-9_.-]", MaxConfigKeyLen)
	case len(v) > MaxConfigValLen:
		return fmt.Sprintf("value over %d bytes", MaxConfigValLen)
	case !utf8.ValidString(v):
		return "value is not UTF-8"
	}
	return ""
}

// sanitiseKey makes a reported garbage key safe to store and show: valid
// UTF-8, printable, bounded.
func sanitiseKey(k string) string {
	if validKey(k) {
		return k
	}
	s := fmt.Sprintf("%+q", k) // ASCII only
	if len(s) > MaxConfigKeyLen {
		s = s[:MaxConfigKeyLen-3] + "..."
	}
	return s
}
