package pickupgw

import (
	"github.com/liveplane/liveplane/internal/domain"
)

// toRPC maps a domain error to its JSON-RPC error: the one table of this
// driver. Internal errors are logged by the caller and sent as a generic
// text; user-facing messages come from the domain's Msg.
func toRPC(err error) *rpcError {
	msg := domain.ErrorMessage(err)
	switch domain.ErrorCode(err) {
	case domain.CodeInvalid:
		return &rpcError{Code: codeInvalidParams, Message: "Invalid params: " + msg}
	case domain.CodeTooLarge:
		return &rpcError{Code: codeTooLarge, Message: msg}
	case domain.CodeExhausted:
		return &rpcError{Code: codeQuota, Message: msg}
	case domain.CodeUnavailable:
		return &rpcError{Code: codeUnavailable, Message: msg + " (retry later)"}
	case domain.CodeUnauthenticated, domain.CodePermissionDenied, domain.CodeNotFound:
		return &rpcError{Code: codeDenied, Message: msg}
	}
	return &rpcError{Code: codeInternal, Message: "Internal error"}
}
