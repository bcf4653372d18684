package pickupgw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// JSON-RPC 2.0 error codes. The -326xx/-327xx ones are the specification's;
// -32000..-32099 is the range it leaves to servers, and these are ours: a
// public registry, never renumbered or reused.
const (
	codeParse          = -32700 // the frame is not JSON
	codeInvalidRequest = -32600 // JSON, but not a JSON-RPC 2.0 request
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602 // the message names the field
	codeInternal       = -32603 // a bug or unexpected failure; details are logged, never sent

	codeUnavailable = -32001 // the store is down or the server is shutting down: retry later
	codeTooLarge    = -32002 // payload over --pickup-max-message-bytes; nothing was stored
	codeQuota       = -32003 // the connection's queue is full; nothing was stored
	codeDenied      = -32004 // the token may not do this
)

// request is one decoded call. ID is nil for a notification (no "id"
// member), and the raw JSON of the id otherwise (a string, number or null).
type request struct {
	Method string
	Params params
	ID     json.RawMessage
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

func invalidParams(field, format string, a ...any) *rpcError {
	return &rpcError{Code: codeInvalidParams, Message: "Invalid params: " + fmt.Sprintf(format, a...),
		Data: map[string]string{"field": field}}
}

// wire is a request as it is on the wire; every member is optional so that
// decodeRequest, not encoding/json, decides what is wrong.
type wire struct {
	JSONRPC *string         `json:"jsonrpc"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

// decodeRequest checks one request object. On error it returns what id it
// could read, so the error response can carry it.
func decodeRequest(raw json.RawMessage) (request, *rpcError) {
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return request{}, errParse
		}
		return request{}, &rpcError{Code: codeInvalidRequest, Message: "Invalid Request: not a JSON-RPC request object"}
	}
	r := request{ID: w.ID}
	if w.ID != nil && !validID(w.ID) {
		r.ID = json.RawMessage("null")
		return r, &rpcError{Code: codeInvalidRequest, Message: "Invalid Request: id must be a string, a number or null"}
	}
	if w.JSONRPC == nil || *w.JSONRPC != "2.0" {
		return r, &rpcError{Code: codeInvalidRequest, Message: `Invalid Request: jsonrpc must be "2.0"`}
	}
	if w.Method == nil || *w.Method == "" {
		return r, &rpcError{Code: codeInvalidRequest, Message: "Invalid Request: method must be a non-empty string"}
	}
	r.Method = *w.Method
	p, perr := parseParams(w.Params)
	if perr != nil {
		return r, perr
	}
	r.Params = p
	return r, nil
}

func validID(id json.RawMessage) bool {
	switch t := bytes.TrimSpace(id); {
	case len(t) == 0:
		return false
	case t[0] == '"':
		var s string
		return json.Unmarshal(t, &s) == nil
	case string(t) == "null":
		return true
	default:
		_, err := strconv.ParseFloat(string(t), 64)
		return err == nil
	}
}

var errParse = &rpcError{Code: codeParse, Message: "Parse error: the frame is not valid JSON"}

// decodeFrame splits a frame into requests: one object, or a batch array.
// A single request is validated by decodeRequest, which parses it anyway.
func decodeFrame(frame []byte) (reqs []json.RawMessage, batch bool, err *rpcError) {
	t := bytes.TrimSpace(frame)
	if len(t) == 0 {
		return nil, false, errParse
	}
	if t[0] == '[' {
		if err := json.Unmarshal(t, &reqs); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, false, errParse
			}
			return nil, true, &rpcError{Code: codeInvalidRequest, Message: "Invalid Request"}
		}
		if len(reqs) == 0 {
			return nil, false, &rpcError{Code: codeInvalidRequest, Message: "Invalid Request: empty batch"}
		}
		return reqs, true, nil
	}
	return []json.RawMessage{t}, false, nil
}

// appendResponse appends a response object for id with result (already
// JSON) or err.
func appendResponse(b []byte, id json.RawMessage, result []byte, err *rpcError) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	b = append(b, `{"jsonrpc":"2.0",`...)
	if err != nil {
		e, _ := json.Marshal(err)
		b = append(b, `"error":`...)
		b = append(b, e...)
	} else {
		b = append(b, `"result":`...)
		b = append(b, result...)
	}
	b = append(b, `,"id":`...)
	b = append(b, id...)
	return append(b, '}')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
