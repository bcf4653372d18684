package rpc

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"connectrpc.com/connect"

	"github.com/liveplane/liveplane/internal/domain/account"
)

// Authenticator resolves bearer tokens; account.Service implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (account.Principal, error)
}

// authInterceptor requires a bearer token on every call and puts the
// principal in the context for the use cases to check.
type authInterceptor struct {
	auth Authenticator
	log  *slog.Logger
}

func (a authInterceptor) authenticate(ctx context.Context, procedure string, h interface{ Get(string) string }) (context.Context, error) {
	raw := h.Get("Authorization")
	token, ok := strings.CutPrefix(raw, "Bearer ")
	if !ok || token == "" {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("missing bearer token: set Authorization: Bearer TOKEN"))
	}
	p, err := a.auth.Authenticate(ctx, token)
	if err != nil {
		return nil, toConnect(a.log, procedure, err)
	}
	return account.WithPrincipal(ctx, p), nil
}

func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := a.authenticate(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (a authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := a.authenticate(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
