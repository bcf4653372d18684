package rpc

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/liveplane/liveplane/internal/domain/pickup"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// MountPickup serves liveplane.v1.PickupService: the operator's listing of
// the pickup queues (admin only; the use case decides).
func MountPickup(mux *http.ServeMux, queues *pickup.Queues, auth Authenticator, log *slog.Logger) {
	path, h := liveplanev1connect.NewPickupServiceHandler(&Pickup{queues: queues, log: log},
		connect.WithInterceptors(authInterceptor{auth: auth, log: log}),
		connect.WithReadMaxBytes(MaxRequestBytes),
	)
	mux.Handle(path, h)
}

// Pickup serves liveplane.v1.PickupService.
type Pickup struct {
	queues *pickup.Queues
	log    *slog.Logger
}

var _ liveplanev1connect.PickupServiceHandler = (*Pickup)(nil)

var queueSorts = map[lpv1.QueueSort]pickup.QueueSort{
	lpv1.QueueSort_QUEUE_SORT_UNSPECIFIED: pickup.SortConnection,
	lpv1.QueueSort_QUEUE_SORT_DEPTH:       pickup.SortDepth,
	lpv1.QueueSort_QUEUE_SORT_AGE:         pickup.SortAge,
}

func (p *Pickup) ListQueues(ctx context.Context, req *connect.Request[lpv1.ListQueuesRequest]) (*connect.Response[lpv1.ListQueuesResponse], error) {
	sort, ok := queueSorts[req.Msg.GetSort()]
	if !ok {
		// Unknown enum values reach the use case, which names them.
		sort = pickup.QueueSort(req.Msg.GetSort().String())
	}
	page, err := p.queues.List(ctx, sort, req.Msg.GetPageToken(), int(req.Msg.GetPageSize()))
	if err != nil {
		return nil, toConnect(p.log, req.Spec().Procedure, err)
	}
	out := &lpv1.ListQueuesResponse{NextPageToken: page.Next, ReadTime: timestamppb.Now()}
	for _, q := range page.Queues {
		pq := &lpv1.PickupQueue{
			AccountId: q.Account, ConnectionId: q.ConnectionID, Depth: q.Depth, Pending: q.Pending, Bytes: q.Bytes,
			OldestMessageTime: ts(q.Oldest), PushesSent: q.PushesSent, LastPushTime: ts(q.LastPush),
		}
		if q.Session.Held() {
			pq.Session = &lpv1.PickupSession{
				SessionId: q.Session.SessionID, Instance: q.Session.Holder.Instance, Socket: q.Session.Holder.Socket,
				Epoch: q.Session.Epoch, StartTime: ts(q.SessionSince), Live: q.SessionLive,
			}
		}
		out.Queues = append(out.Queues, pq)
	}
	return connect.NewResponse(out), nil
}
