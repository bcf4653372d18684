package livews

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/liveplane/liveplane/internal/domain/livelog"
)

// maxFrameHeader is the longest header of an unmasked server frame.
const maxFrameHeader = 10

// lineFrame is the complete WebSocket frame of a line: a text frame whose
// payload is the stored JSON object with seq, prev and epoch added. Built by
// splicing, not by decoding and encoding again, once per line for every
// subscriber: server frames are not masked, so the same bytes go to all.
// Nil when the body is not a JSON object (it is then not delivered).
func lineFrame(e livelog.Entry) []byte {
	body := bytes.TrimRight(e.Body, " \t\r\n")
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' || !validEpoch(e.Epoch) {
		return nil
	}
	b := make([]byte, maxFrameHeader, maxFrameHeader+len(body)+48+len(e.Epoch))
	b = append(b, body[:len(body)-1]...)
	if len(bytes.TrimSpace(body[1:len(body)-1])) > 0 {
		b = append(b, ',')
	}
	b = append(b, `"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"prev":`...)
	b = strconv.AppendUint(b, e.Prev, 10)
	b = append(b, `,"epoch":"`...)
	b = append(b, e.Epoch...) // validEpoch: nothing to escape
	b = append(b, `"}`...)
	return frameIn(b)
}

// textFrame is a text frame carrying payload.
func textFrame(payload []byte) []byte {
	b := make([]byte, maxFrameHeader, maxFrameHeader+len(payload))
	return frameIn(append(b, payload...))
}

// frameIn writes the header of a FIN text frame into the maxFrameHeader
// bytes reserved before the payload in b and returns the frame.
func frameIn(b []byte) []byte {
	n := len(b) - maxFrameHeader
	var h []byte
	switch {
	case n < 126:
		h = []byte{0x81, byte(n)}
	case n < 1<<16:
		h = []byte{0x81, 126, byte(n >> 8), byte(n)}
	default:
		h = []byte{0x81, 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	start := maxFrameHeader - len(h)
	copy(b[start:], h)
	return b[start:]
}

// framePayload returns the payload of a frame built by frameIn.
func framePayload(f []byte) []byte {
	switch f[1] {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	}
	return f[2:]
}

type helloFrame struct {
	Type      string `json:"type"`
	DeviceID  string `json:"deviceId"`
	Epoch     string `json:"epoch"`
	Recovered bool   `json:"recovered"`
	Reason    string `json:"reason,omitempty"`
	Gap       *gap   `json:"gap,omitempty"`
	LastSeq   uint64 `json:"lastSeq"`
}

type gap struct {
	AfterSeq  uint64 `json:"afterSeq"`
	BeforeSeq uint64 `json:"beforeSeq"`
}

func encodeHello(deviceID string, h livelog.Hello) []byte {
	f := helloFrame{Type: "hello", DeviceID: deviceID, Epoch: h.Epoch, Recovered: h.Recovered, Reason: h.Reason, LastSeq: h.LastSeq}
	if h.Gap != nil {
		f.Gap = &gap{AfterSeq: h.Gap.AfterSeq, BeforeSeq: h.Gap.BeforeSeq}
	}
	b, _ := json.Marshal(f) // plain fields: cannot fail
	return textFrame(b)
}
