package pickupgw

import (
	"encoding/json"
	"testing"
)

// FuzzRequest feeds arbitrary frames to the decoder: it must never panic,
// every error it reports must serialise to a valid JSON-RPC response, and
// what it accepts must have a method and readable params.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","method":"ping","id":1}`,
		`{"jsonrpc":"2.0","method":"addMessage","params":{"connectionId":"c","recipientDids":["d"],"payload":{"a":1}},"id":"x"}`,
		`{"jsonrpc":"2.0","method":"takeFromQueue","params":{"connectionId":"c","limit":10,"limitBytes":1e3,"deleteMessages":true},"id":null}`,
		`{"jsonrpc":"2.0","method":"rpc.on","params":["messagesReceived"],"id":2}`,
		`[{"jsonrpc":"2.0","method":"ping","id":1},{"jsonrpc":"2.0","method":"ping"}]`,
		`{"jsonrpc":"2.0","method":"addMessage","params":{"pushNotificationToken":{"type":"fcm"}},"id":3}`,
		`[]`, `{}`, `null`, `{"id":{"a":1}}`, `"\ud800"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		reqs, _, ferr := decodeFrame(frame)
		if ferr != nil {
			mustJSON(t, appendResponse(nil, nil, nil, ferr))
			return
		}
		for _, raw := range reqs {
			req, rerr := decodeRequest(raw)
			if rerr != nil {
				mustJSON(t, appendResponse(nil, req.ID, nil, rerr))
				continue
			}
			if req.Method == "" {
				t.Fatalf("accepted a request without a method: %s", raw)
			}
			p := req.Params
			_, e1 := p.str("connectionId")
			_, e2 := p.strings("recipientDids", true)
			_, e3 := p.jsonObject("payload")
			_, e4 := p.int("limit")
			_, e5 := p.bool("deleteMessages")
			_, _, _, e6 := p.pushToken("pushNotificationToken")
			for _, e := range []*rpcError{p.object(), e1, e2, e3, e4, e5, e6} {
				if e != nil {
					mustJSON(t, appendResponse(nil, req.ID, nil, e))
				}
			}
			mustJSON(t, appendResponse(nil, req.ID, []byte(`"pong"`), nil))
		}
	})
}

func mustJSON(t *testing.T, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON response: %s", b)
	}
}
