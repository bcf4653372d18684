package pickup

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// QueueSort orders a queue listing.
type QueueSort string

// Queue listing orders.
const (
	// SortConnection: by account, then connection id (every queue, empty
	// ones included).
	SortConnection QueueSort = "connection"
	// SortDepth: the most stored messages first.
	SortDepth QueueSort = "depth"
	// SortAge: the oldest stored message first; queues that hold no message
	// are not listed.
	SortAge QueueSort = "age"
)

// Page sizes of a queue listing.
const (
	DefaultQueuePage = 100
	MaxQueuePage     = 500
)

// QueueQuery selects a page of queues.
type QueueQuery struct {
	Sort QueueSort
	// After is the previous page's Next ("" for the first page). It is
	// opaque, bound to Sort; the store refuses one it did not issue with
	// CodeInvalid.
	After string
	Limit int       // 1..MaxQueuePage
	Now   time.Time // for the sessions' liveness
}

// QueueInfo is one queue as an operator sees it.
type QueueInfo struct {
	Account      string
	ConnectionID string
	Depth        int64 // stored messages: pending and in flight
	Pending      int64
	Bytes        int64
	// Oldest is when the queue's oldest stored message (its lowest server
	// sequence) was received; zero when the queue is empty.
	Oldest time.Time
	// Session is the connection's lease, if any (Session.Held()).
	Session Lease
	// SessionSince is when the lease was taken (zero when unknown).
	SessionSince time.Time
	// SessionLive: the holding instance's heartbeat is current, so messages
	// go to it rather than to push.
	SessionLive bool
	PushesSent  int64
	LastPush    time.Time // zero when none was sent
}

// QueuePage is a page of queues; Next is "" on the last page. With SortAge
// a page may hold fewer than Limit queues while Next is not "": the store
// bounds the work of one page (see the sqlstore implementation).
type QueuePage struct {
	Queues []QueueInfo
	Next   string
}

// QueueLister lists queues for operators. Listings are not snapshots: a
// queue that changes between two pages may be missed or listed twice.
type QueueLister interface {
	ListQueues(ctx context.Context, q QueueQuery) (QueuePage, error)
}

// Queues is the operator's view of every queue of the repository. Queues
// span accounts (a mediator's connections are the platform's concern), so
// only the admin token may list them.
type Queues struct {
	store QueueLister
	clock domain.Clock
}

// NewQueues returns the queue listing on store.
func NewQueues(store QueueLister, clock domain.Clock) *Queues {
	return &Queues{store: store, clock: clock}
}

// List returns a page of queues. limit 0 means DefaultQueuePage; sort ""
// means SortConnection.
func (q *Queues) List(ctx context.Context, sort QueueSort, after string, limit int) (QueuePage, error) {
	const op = "pickup.ListQueues"
	if p, ok := account.PrincipalFrom(ctx); !ok || !p.Admin {
		return QueuePage{}, domain.Errorf(domain.CodePermissionDenied, op,
			"pickup queues span accounts: listing them requires the admin token")
	}
	switch sort {
	case "":
		sort = SortConnection
	case SortConnection, SortDepth, SortAge:
	default:
		return QueuePage{}, domain.Errorf(domain.CodeInvalid, op, "sort must be connection, depth or age, not %q", sort)
	}
	switch {
	case limit == 0:
		limit = DefaultQueuePage
	case limit < 0 || limit > MaxQueuePage:
		return QueuePage{}, domain.Errorf(domain.CodeInvalid, op, "limit must be between 1 and %d, not %d", MaxQueuePage, limit)
	}
	page, err := q.store.ListQueues(ctx, QueueQuery{Sort: sort, After: after, Limit: limit, Now: q.clock.Now()})
	if err != nil {
		return QueuePage{}, domain.Wrap(op, err)
	}
	return page, nil
}
