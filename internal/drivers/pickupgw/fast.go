package pickupgw

import (
	"bytes"
	"encoding/json"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// fastAdd is addMessage as mediators send it, decoded in one call of
// encoding/json (one validation pass and one decoding pass over the
// payload) instead of the general path's envelope, then params. Anything
// unusual (a missing or mistyped field, a batch, array params) takes the
// general path, which finds and names what is wrong.
type fastAdd struct {
	JSONRPC *string         `json:"jsonrpc"`
	Method  *string         `json:"method"`
	ID      json.RawMessage `json:"id"`
	Params  *struct {
		ConnectionID          *string         `json:"connectionId"`
		RecipientDids         []string        `json:"recipientDids"`
		Payload               json.RawMessage `json:"payload"`
		PushNotificationToken *struct {
			Type  *string `json:"type"`
			Token *string `json:"token"`
		} `json:"pushNotificationToken"`
	} `json:"params"`
}

var addMessageName = []byte(`"addMessage"`)

// decodeFastAdd returns the request's id and input when raw is a plain
// addMessage call.
func decodeFastAdd(raw []byte) (json.RawMessage, pickup.AddInput, bool) {
	if !bytes.Contains(raw, addMessageName) {
		return nil, pickup.AddInput{}, false
	}
	var f fastAdd
	if json.Unmarshal(raw, &f) != nil || f.JSONRPC == nil || *f.JSONRPC != "2.0" || f.Method == nil ||
		*f.Method != "addMessage" || f.ID == nil || !validID(f.ID) || f.Params == nil || f.Params.ConnectionID == nil ||
		f.Params.RecipientDids == nil || f.Params.Payload == nil {
		return nil, pickup.AddInput{}, false
	}
	payload, err := compactObject("payload", f.Params.Payload)
	if err != nil {
		return nil, pickup.AddInput{}, false
	}
	in := pickup.AddInput{ConnectionID: *f.Params.ConnectionID, RecipientDIDs: f.Params.RecipientDids, Payload: payload}
	if t := f.Params.PushNotificationToken; t != nil {
		if t.Type == nil {
			return nil, pickup.AddInput{}, false
		}
		in.Push = &pickup.PushToken{Type: *t.Type}
		if t.Token != nil {
			in.Push.Token = *t.Token
		}
	}
	return f.ID, in, true
}
