package livews

import (
	"encoding/json"

	"github.com/liveplane/liveplane/internal/domain/livelog"
)

func lineEntry(body []byte, seq, prev uint64, epoch string) livelog.Entry {
	return livelog.Entry{DeviceID: "d", Seq: seq, Prev: prev, Epoch: epoch, Body: body}
}

func jsonValid(b []byte) bool {
	var v map[string]any
	return json.Unmarshal(b, &v) == nil
}
