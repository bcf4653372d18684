package livews

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/liveplane/liveplane/internal/domain/livelog"
)

// lineFrame is the wire form of a line: the stored JSON object with seq,
// prev and epoch added. Built by splicing, not by decoding and encoding
// again, once per line for every subscriber. Nil when the body is not a
// JSON object (it is then not delivered).
func lineFrame(e livelog.Entry) []byte {
	body := bytes.TrimRight(e.Body, " \t\r\n")
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' || !validEpoch(e.Epoch) {
		return nil
	}
	b := make([]byte, 0, len(body)+48+len(e.Epoch))
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
	return append(b, `"}`...)
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
	return b
}
