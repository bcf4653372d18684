package rpc

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/eventcodec"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// MaxRequestBytes bounds every request body; larger ones are refused before
// they are decoded.
const MaxRequestBytes = 1 << 20

// Accounts serves liveplane.v1.AccountService.
type Accounts struct {
	svc  *account.Service
	log  *slog.Logger
	view *provisioning.View // nil: no per-cluster status
}

var _ liveplanev1connect.AccountServiceHandler = (*Accounts)(nil)

// Mount registers the account service on mux behind token authentication.
func Mount(mux *http.ServeMux, svc *account.Service, log *slog.Logger) {
	a := &Accounts{svc: svc, log: log}
	path, h := liveplanev1connect.NewAccountServiceHandler(a,
		connect.WithInterceptors(authInterceptor{auth: svc, log: log}),
		connect.WithReadMaxBytes(MaxRequestBytes),
	)
	mux.Handle(path, h)
}

func (a *Accounts) CreateAccount(ctx context.Context, req *connect.Request[lpv1.CreateAccountRequest]) (*connect.Response[lpv1.CreateAccountResponse], error) {
	m := req.Msg
	c, err := a.svc.Create(ctx, account.CreateInput{Name: m.GetName(), DisplayName: m.GetDisplayName(), WithAPIKey: m.GetCreateApiKey(),
		Quota: eventcodec.QuotaFromProto(m.GetQuota()), Group: m.GetGroup()})
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	out := &lpv1.CreateAccountResponse{Account: eventcodec.AccountToProto(c.Account)}
	if c.Secret != "" {
		out.ApiKeySecret = c.Secret
		out.ApiKey = eventcodec.APIKeyToProto(c.Key)
	}
	return connect.NewResponse(out), nil
}

func (a *Accounts) GetAccount(ctx context.Context, req *connect.Request[lpv1.GetAccountRequest]) (*connect.Response[lpv1.GetAccountResponse], error) {
	acc, err := a.svc.Get(ctx, req.Msg.GetId())
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	pa, err := a.describe(ctx, acc)
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&lpv1.GetAccountResponse{Account: pa}), nil
}

func (a *Accounts) ListAccounts(ctx context.Context, req *connect.Request[lpv1.ListAccountsRequest]) (*connect.Response[lpv1.ListAccountsResponse], error) {
	m := req.Msg
	list, next, err := a.svc.List(ctx, account.ListInput{PageSize: int(m.GetPageSize()), PageToken: m.GetPageToken(),
		IncludeDeleted: m.GetIncludeDeleted()})
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	out := &lpv1.ListAccountsResponse{NextPageToken: next}
	for _, acc := range list {
		// As GetAccount: READY and the per-cluster conditions are derived
		// from the read model, not stored with the account.
		pa, err := a.describe(ctx, acc)
		if err != nil {
			return nil, toConnect(a.log, req.Spec().Procedure, err)
		}
		out.Accounts = append(out.Accounts, pa)
	}
	return connect.NewResponse(out), nil
}

func (a *Accounts) UpdateAccount(ctx context.Context, req *connect.Request[lpv1.UpdateAccountRequest]) (*connect.Response[lpv1.UpdateAccountResponse], error) {
	m := req.Msg
	in := account.UpdateInput{ID: m.GetId(), DisplayName: m.DisplayName, Group: m.Group, ExpectedGeneration: m.GetExpectedGeneration()}
	if m.Quota != nil {
		q := eventcodec.QuotaFromProto(m.Quota)
		in.Quota = &q
	}
	acc, err := a.svc.Update(ctx, in)
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&lpv1.UpdateAccountResponse{Account: eventcodec.AccountToProto(acc)}), nil
}

func (a *Accounts) DeleteAccount(ctx context.Context, req *connect.Request[lpv1.DeleteAccountRequest]) (*connect.Response[lpv1.DeleteAccountResponse], error) {
	acc, err := a.svc.Delete(ctx, req.Msg.GetId(), req.Msg.GetExpectedGeneration())
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&lpv1.DeleteAccountResponse{Account: eventcodec.AccountToProto(acc)}), nil
}

func (a *Accounts) CreateApiKey(ctx context.Context, req *connect.Request[lpv1.CreateApiKeyRequest]) (*connect.Response[lpv1.CreateApiKeyResponse], error) {
	k, secret, err := a.svc.CreateAPIKey(ctx, req.Msg.GetAccountId(), req.Msg.GetDescription())
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&lpv1.CreateApiKeyResponse{Key: eventcodec.APIKeyToProto(k), Secret: secret}), nil
}

func (a *Accounts) ListApiKeys(ctx context.Context, req *connect.Request[lpv1.ListApiKeysRequest]) (*connect.Response[lpv1.ListApiKeysResponse], error) {
	keys, err := a.svc.APIKeys(ctx, req.Msg.GetAccountId())
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	out := &lpv1.ListApiKeysResponse{}
	for _, k := range keys {
		out.Keys = append(out.Keys, eventcodec.APIKeyToProto(k))
	}
	return connect.NewResponse(out), nil
}

func (a *Accounts) RevokeApiKey(ctx context.Context, req *connect.Request[lpv1.RevokeApiKeyRequest]) (*connect.Response[lpv1.RevokeApiKeyResponse], error) {
	k, err := a.svc.RevokeAPIKey(ctx, req.Msg.GetId())
	if err != nil {
		return nil, toConnect(a.log, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&lpv1.RevokeApiKeyResponse{Key: eventcodec.APIKeyToProto(k)}), nil
}
