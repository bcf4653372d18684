package livelogclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Line is one live-log line as the server sent it (docs/live-logs.md, Lines).
type Line struct {
	DeviceID  string          `json:"deviceId"`
	Timestamp time.Time       `json:"timestamp"` // CoAP receipt time on the server
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data,omitempty"`
	Seq       uint64          `json:"seq"`
	Prev      uint64          `json:"prev"`
	Epoch     string          `json:"epoch"`
	// Raw is the frame exactly as received, for callers that forward it
	// (the relay sends the same bytes to every browser).
	Raw []byte `json:"-"`
}

// Hello is the first frame of every connection.
type Hello struct {
	DeviceID  string   `json:"deviceId"`
	Epoch     string   `json:"epoch"`
	Recovered bool     `json:"recovered"`
	Reason    string   `json:"reason,omitempty"`
	Gap       *GapSpan `json:"gap,omitempty"`
	LastSeq   uint64   `json:"lastSeq"`
}

// GapSpan says which seqs of a device may be lost: AfterSeq < seq <
// BeforeSeq (BeforeSeq 0 = up to now).
type GapSpan struct {
	AfterSeq  uint64 `json:"afterSeq"`
	BeforeSeq uint64 `json:"beforeSeq"`
}

// Control is a frame a relay adds to the stream (`reconnecting`, `gap`,
// `live`); serve itself sends none.
type Control struct {
	Type     string   `json:"type"`
	DeviceID string   `json:"deviceId"`
	Epoch    string   `json:"epoch,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Gap      *GapSpan `json:"gap,omitempty"`
	LastSeq  uint64   `json:"lastSeq,omitempty"`
	Attempt  int      `json:"attempt,omitempty"`
	DelayMS  int64    `json:"delayMs,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// frame is the union of every frame's fields, decoded once.
type frame struct {
	Type      string          `json:"type"`
	DeviceID  string          `json:"deviceId"`
	Timestamp *time.Time      `json:"timestamp"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	Seq       uint64          `json:"seq"`
	Prev      uint64          `json:"prev"`
	Epoch     string          `json:"epoch"`
	Recovered *bool           `json:"recovered"`
	Reason    string          `json:"reason"`
	Gap       *GapSpan        `json:"gap"`
	LastSeq   uint64          `json:"lastSeq"`
	Attempt   int             `json:"attempt"`
	DelayMS   int64           `json:"delayMs"`
	Error     string          `json:"error"`
}

var errBadFrame = errors.New("bad frame")

// decode classifies one server frame: exactly one of the results is set.
// A frame with a seq is a line; without one it is a hello or a control.
// Lines take the fast path (decode_line.go); what it declines, and every
// other frame, goes through json.Unmarshal.
func decode(b []byte) (*Line, *Hello, *Control, error) {
	if l, ok := decodeLine(b); ok {
		return l, nil, nil, nil
	}
	return decodeJSON(b)
}

// decodeJSON is decode by json.Unmarshal.
func decodeJSON(b []byte) (*Line, *Hello, *Control, error) {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", errBadFrame, err)
	}
	switch {
	case f.Seq > 0:
		if f.Prev >= f.Seq {
			return nil, nil, nil, fmt.Errorf("%w: line seq %d with prev %d", errBadFrame, f.Seq, f.Prev)
		}
		l := &Line{DeviceID: f.DeviceID, Type: f.Type, Message: f.Message, Data: f.Data,
			Seq: f.Seq, Prev: f.Prev, Epoch: f.Epoch, Raw: b}
		if f.Timestamp != nil {
			l.Timestamp = *f.Timestamp
		}
		return l, nil, nil, nil
	case f.Type == "hello":
		if f.Recovered == nil {
			return nil, nil, nil, fmt.Errorf("%w: hello without recovered", errBadFrame)
		}
		return nil, &Hello{DeviceID: f.DeviceID, Epoch: f.Epoch, Recovered: *f.Recovered, Reason: f.Reason,
			Gap: f.Gap, LastSeq: f.LastSeq}, nil, nil
	case f.Type != "":
		return nil, nil, &Control{Type: f.Type, DeviceID: f.DeviceID, Epoch: f.Epoch, Reason: f.Reason,
			Gap: f.Gap, LastSeq: f.LastSeq, Attempt: f.Attempt, DelayMS: f.DelayMS, Error: f.Error}, nil
	}
	return nil, nil, nil, fmt.Errorf("%w: neither a line nor a hello", errBadFrame)
}
