// Package rpc is the management API driver: Connect handlers (gRPC,
// gRPC-Web and JSON over HTTP from one handler) that translate between the
// protobuf API and the domain use cases.
package rpc

import (
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/liveplane/liveplane/internal/domain"
)

// codes maps every domain error code to its RPC status: the one place the
// mapping is decided.
var codes = map[domain.Code]connect.Code{
	domain.CodeInvalid:          connect.CodeInvalidArgument,
	domain.CodeNotFound:         connect.CodeNotFound,
	domain.CodeConflict:         connect.CodeAlreadyExists,
	domain.CodeAborted:          connect.CodeAborted,
	domain.CodeUnauthenticated:  connect.CodeUnauthenticated,
	domain.CodePermissionDenied: connect.CodePermissionDenied,
	domain.CodeUnavailable:      connect.CodeUnavailable,
	domain.CodeExhausted:        connect.CodeResourceExhausted,
	domain.CodeTooLarge:         connect.CodeInvalidArgument,
	domain.CodeInternal:         connect.CodeInternal,
}

// toConnect turns a domain error into an RPC error with a user-safe message.
// Internal and unavailable errors are logged here, once, with their cause.
func toConnect(log *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	code := domain.ErrorCode(err)
	if code == domain.CodeInternal || code == domain.CodeUnavailable {
		log.Error("rpc failed", "procedure", procedure, "code", string(code), "err", err)
	}
	c, ok := codes[code]
	if !ok {
		c = connect.CodeInternal
	}
	return connect.NewError(c, errors.New(domain.ErrorMessage(err)))
}
