package pickup

import (
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
)

// Bounds of identifiers. Connection and session ids are mediator-chosen
// strings (UUIDs in practice); DIDs can be long (did:peer:2 carries keys).
const (
	maxIDLen      = 256
	maxDIDLen     = 4096
	maxRecipients = 64
	maxRemoveIDs  = 10_000
)

// checkText validates a required or optional identifier named field: valid
// UTF-8, no control characters (they would corrupt the stored DID list and
// logs), bounded length.
func checkText(op, field, v string, required bool, maxLen int) error {
	if v == "" {
		if required {
			return domain.Errorf(domain.CodeInvalid, op, "%s is required", field)
		}
		return nil
	}
	if len(v) > maxLen {
		return domain.Errorf(domain.CodeInvalid, op, "%s is %d bytes, over the limit of %d", field, len(v), maxLen)
	}
	if !utf8.ValidString(v) {
		return domain.Errorf(domain.CodeInvalid, op, "%s is not valid UTF-8", field)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return domain.Errorf(domain.CodeInvalid, op, "%s contains a control character", field)
		}
	}
	return nil
}

func checkConnection(op, id string) error { return checkText(op, "connectionId", id, true, maxIDLen) }

func checkRecipients(op string, dids []string) error {
	if len(dids) == 0 {
		return domain.Errorf(domain.CodeInvalid, op, "recipientDids must list at least one DID")
	}
	if len(dids) > maxRecipients {
		return domain.Errorf(domain.CodeInvalid, op, "recipientDids lists %d DIDs, over the limit of %d", len(dids), maxRecipients)
	}
	for _, d := range dids {
		if err := checkText(op, "recipientDids[]", d, true, maxDIDLen); err != nil {
			return err
		}
	}
	return nil
}

func checkPush(op string, t *PushToken) error {
	if t == nil {
		return nil
	}
	if err := checkText(op, "pushNotificationToken.type", t.Type, true, 32); err != nil {
		return err
	}
	return checkText(op, "pushNotificationToken.token", t.Token, false, 4096)
}
