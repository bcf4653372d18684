package pickupgw

import (
	"bytes"
	"encoding/json"
	"math"
)

// params are named parameters. Positional (array) params are accepted only
// where the dialect uses them (rpc.on / rpc.off event lists).
type params struct {
	named map[string]json.RawMessage
	list  []json.RawMessage
	array bool
}

func parseParams(raw json.RawMessage) (params, *rpcError) {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0 || string(t) == "null":
		return params{}, nil
	case t[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(t, &m); err != nil {
			return params{}, invalidParams("params", "params must be an object")
		}
		return params{named: m}, nil
	case t[0] == '[':
		var l []json.RawMessage
		if err := json.Unmarshal(t, &l); err != nil {
			return params{}, invalidParams("params", "params must be an object or an array")
		}
		return params{list: l, array: true}, nil
	}
	return params{}, invalidParams("params", "params must be an object or an array")
}

// object requires named params (every method of the pickup API).
func (p params) object() *rpcError {
	if p.array {
		return invalidParams("params", "params must be an object of named parameters")
	}
	return nil
}

func (p params) has(field string) bool {
	v, ok := p.named[field]
	return ok && string(bytes.TrimSpace(v)) != "null"
}

// str reads a string field; absent or null gives "" (then required fields
// fail with "is required" in the domain, naming the field).
func (p params) str(field string) (string, *rpcError) {
	if !p.has(field) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(p.named[field], &s); err != nil {
		return "", invalidParams(field, "%s must be a string", field)
	}
	return s, nil
}

func (p params) strings(field string, required bool) ([]string, *rpcError) {
	if !p.has(field) {
		if required {
			return nil, invalidParams(field, "%s is required (an array of strings)", field)
		}
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(p.named[field], &l); err != nil {
		return nil, invalidParams(field, "%s must be an array of strings", field)
	}
	return l, nil
}

// int reads an optional non-negative integer; nil when absent.
func (p params) int(field string) (*int, *rpcError) {
	if !p.has(field) {
		return nil, nil
	}
	var f float64
	if err := json.Unmarshal(p.named[field], &f); err != nil || f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
		return nil, invalidParams(field, "%s must be a non-negative integer", field)
	}
	n := int(f)
	return &n, nil
}

func (p params) bool(field string) (bool, *rpcError) {
	if !p.has(field) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(p.named[field], &b); err != nil {
		return false, invalidParams(field, "%s must be a boolean", field)
	}
	return b, nil
}

// jsonObject reads a required JSON object field, compacted.
func (p params) jsonObject(field string) ([]byte, *rpcError) {
	if !p.has(field) {
		return nil, invalidParams(field, "%s is required", field)
	}
	return compactObject(field, p.named[field])
}

// compactObject returns v, a JSON object already validated by the caller's
// decode, in compact form (copied only when it has whitespace to remove).
func compactObject(field string, v []byte) ([]byte, *rpcError) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' {
		return nil, invalidParams(field, "%s must be a JSON object (the encrypted message)", field)
	}
	if bytes.IndexAny(v, " \t\r\n") < 0 {
		return v, nil
	}
	var b bytes.Buffer
	b.Grow(len(v))
	if err := json.Compact(&b, v); err != nil {
		return nil, invalidParams(field, "%s is not valid JSON", field)
	}
	return b.Bytes(), nil
}

// pushToken reads the optional {type, token} object.
func (p params) pushToken(field string) (typ, token string, ok bool, err *rpcError) {
	if !p.has(field) {
		return "", "", false, nil
	}
	var t struct {
		Type  *string `json:"type"`
		Token *string `json:"token"`
	}
	if e := json.Unmarshal(p.named[field], &t); e != nil {
		return "", "", false, invalidParams(field, "%s must be an object {type, token} of strings", field)
	}
	if t.Type == nil {
		return "", "", false, invalidParams(field+".type", "%s.type is required", field)
	}
	if t.Token != nil {
		token = *t.Token
	}
	return *t.Type, token, true, nil
}
