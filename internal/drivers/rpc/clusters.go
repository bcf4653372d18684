package rpc

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/eventcodec"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// MountWithProvisioning is Mount plus per-cluster status: GetAccount shows
// each cluster's conditions and the derived state, and ClusterService
// lists the registered clusters.
func MountWithProvisioning(mux *http.ServeMux, svc *account.Service, view *provisioning.View, log *slog.Logger) {
	a := &Accounts{svc: svc, log: log, view: view}
	opts := []connect.HandlerOption{
		connect.WithInterceptors(authInterceptor{auth: svc, log: log}),
		connect.WithReadMaxBytes(MaxRequestBytes),
	}
	path, h := liveplanev1connect.NewAccountServiceHandler(a, opts...)
	mux.Handle(path, h)
	path, h = liveplanev1connect.NewClusterServiceHandler(&Clusters{view: view, log: log}, opts...)
	mux.Handle(path, h)
}

// describe adds the per-cluster reports to an account the caller may see.
func (a *Accounts) describe(ctx context.Context, acc account.Account) (*lpv1.Account, error) {
	if a.view == nil {
		return eventcodec.AccountToProto(acc), nil
	}
	acc, sts, err := a.view.Describe(ctx, acc)
	if err != nil {
		return nil, err
	}
	p := eventcodec.AccountToProto(acc)
	for _, s := range sts {
		p.Clusters = append(p.Clusters, eventcodec.StatusToProto(s))
	}
	return p, nil
}

// Clusters serves liveplane.v1.ClusterService (admin only).
type Clusters struct {
	view *provisioning.View
	log  *slog.Logger
}

var _ liveplanev1connect.ClusterServiceHandler = (*Clusters)(nil)

var healths = map[provisioning.Health]lpv1.ClusterHealth{
	provisioning.Healthy:   lpv1.ClusterHealth_CLUSTER_HEALTH_HEALTHY,
	provisioning.Unhealthy: lpv1.ClusterHealth_CLUSTER_HEALTH_UNHEALTHY,
	provisioning.Gone:      lpv1.ClusterHealth_CLUSTER_HEALTH_GONE,
}

func (c *Clusters) ListClusters(ctx context.Context, req *connect.Request[lpv1.ListClustersRequest]) (*connect.Response[lpv1.ListClustersResponse], error) {
	const op = "cluster.List"
	if p, ok := account.PrincipalFrom(ctx); !ok || !p.Admin {
		return nil, toConnect(c.log, req.Spec().Procedure, domain.Errorf(domain.CodePermissionDenied, op, "requires the admin token"))
	}
	list, err := c.view.Clusters(ctx)
	if err != nil {
		return nil, toConnect(c.log, req.Spec().Procedure, err)
	}
	now := c.view.Now()
	out := &lpv1.ListClustersResponse{}
	for _, cl := range list {
		out.Clusters = append(out.Clusters, &lpv1.Cluster{
			Name: cl.Name, Health: healths[cl.HealthAt(now)], DaemonVersion: cl.DaemonVersion,
			RegisterTime: timestamppb.New(cl.RegisteredAt), LastHeartbeatTime: timestamppb.New(cl.LastHeartbeat),
		})
	}
	return connect.NewResponse(out), nil
}
