package domain

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. Codes are a public, stable registry: drivers
// map them to transport statuses (RPC, CoAP, HTTP) in one table each, clients
// may switch on them, so a code is never renamed or reused for a new meaning.
type Code string

// The registry. Add at the end; never change a meaning.
const (
	CodeInvalid          Code = "invalid"           // the caller's input is wrong; the message says which field
	CodeNotFound         Code = "not_found"         // no such thing, or not visible to this caller
	CodeConflict         Code = "conflict"          // a uniqueness rule would break (name taken, already exists)
	CodeAborted          Code = "aborted"           // optimistic concurrency: the expected version is stale
	CodeUnauthenticated  Code = "unauthenticated"   // no, bad, expired or revoked credential
	CodePermissionDenied Code = "permission_denied" // authenticated, but not allowed
	CodeUnavailable      Code = "unavailable"       // a dependency is down; retrying later may work
	CodeExhausted        Code = "resource_exhausted"
	CodeTooLarge         Code = "too_large"
	CodeInternal         Code = "internal" // a bug or an unexpected failure; details are logged, never shown
)

// Error is the one error type of the domain. Msg is safe to show to users;
// Err (the cause) is for logs only.
type Error struct {
	Code Code
	Op   string // the operation, e.g. "account.Create"
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Msg != "":
		return fmt.Sprintf("%s: %s: %v", e.Op, e.Msg, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	default:
		return fmt.Sprintf("%s: %s", e.Op, e.Msg)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a user-facing message.
func Errorf(code Code, op, format string, args ...any) *Error {
	return &Error{Code: code, Op: op, Msg: fmt.Sprintf(format, args...)}
}

// Wrap attaches an operation to err, keeping its code when it already has
// one, and classifying it as internal otherwise. Wrap(nil) is nil.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: ErrorCode(err), Op: op, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the first user-facing message in err's chain. Internal
// errors get a generic text: causes never leak to clients.
func ErrorMessage(err error) string {
	for e := err; e != nil; {
		var de *Error
		if !errors.As(e, &de) {
			break
		}
		if de.Code == CodeInternal {
			return "internal error"
		}
		if de.Msg != "" {
			return de.Msg
		}
		e = de.Err
	}
	if ErrorCode(err) == CodeInternal {
		return "internal error"
	}
	return string(ErrorCode(err))
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && ErrorCode(err) == code }
