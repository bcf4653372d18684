package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// `liveplane pickup queues`: the message pickup repository's queues, for
// operators (admin token).
func runPickup(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "queues" {
		return usagef("usage: liveplane pickup queues [--sort connection|depth|age] [--limit N] [--json]")
	}
	c := newClientCommand("pickup queues", e)
	sortBy := c.fs.String("sort", "connection", "order: connection (account, connection id), depth (deepest first) or age (oldest message first; empty queues left out)")
	limit := c.fs.Int("limit", 100, "stop after this many queues (0: all)")
	pageToken := c.fs.String("page-token", "", "go on from a previous --json answer's nextPageToken")
	asJSON := c.fs.Bool("json", false, "print JSON (same as --output json)")
	api, err := c.parse(e, args[1:])
	if err != nil {
		return err
	}
	if *asJSON {
		api.cfg.Output = "json"
	}
	sorts := map[string]lpv1.QueueSort{
		"connection": lpv1.QueueSort_QUEUE_SORT_UNSPECIFIED,
		"depth":      lpv1.QueueSort_QUEUE_SORT_DEPTH,
		"age":        lpv1.QueueSort_QUEUE_SORT_AGE,
	}
	sort, ok := sorts[*sortBy]
	if !ok {
		return usagef("--sort %q: want connection, depth or age", *sortBy)
	}
	if *limit < 0 {
		return usagef("--limit %d: want 0 (all) or more", *limit)
	}
	client := liveplanev1connect.NewPickupServiceClient(api.http, api.base, api.auth)
	all := &lpv1.ListQueuesResponse{}
	token := *pageToken
	for {
		size := 500
		if *limit > 0 {
			size = min(size, *limit-len(all.Queues))
		}
		res, err := client.ListQueues(ctx, connect.NewRequest(&lpv1.ListQueuesRequest{
			Sort: sort, PageSize: int32(size), PageToken: token,
		}))
		if err != nil {
			return err
		}
		all.Queues = append(all.Queues, res.Msg.GetQueues()...)
		all.ReadTime = res.Msg.GetReadTime()
		token = res.Msg.GetNextPageToken()
		if token == "" || (*limit > 0 && len(all.Queues) >= *limit) {
			all.NextPageToken = token
			break
		}
	}
	now := all.GetReadTime().AsTime()
	rows := make([][]string, 0, len(all.Queues))
	for _, q := range all.Queues {
		session, since := "-", "-"
		if s := q.GetSession(); s != nil {
			session = s.GetSessionId() + " @ " + s.GetInstance()
			if !s.GetLive() {
				session += " (instance down)"
			}
			since = age(now, s.GetStartTime())
		}
		rows = append(rows, []string{q.GetAccountId(), q.GetConnectionId(), strconv.FormatInt(q.GetDepth(), 10),
			strconv.FormatInt(q.GetPending(), 10), strconv.FormatInt(q.GetBytes(), 10), age(now, q.GetOldestMessageTime()),
			session, since, strconv.FormatInt(q.GetPushesSent(), 10), age(now, q.GetLastPushTime())})
	}
	err = api.print(all, []string{"ACCOUNT", "CONNECTION", "DEPTH", "PENDING", "BYTES", "OLDEST", "SESSION", "SINCE",
		"PUSHES", "LAST PUSH"}, rows)
	if err == nil && api.cfg.Output != "json" && all.NextPageToken != "" {
		fmt.Fprintf(e.stderr, "more queues: --limit 0 for all, or --json for a nextPageToken to pass as --page-token\n")
	}
	return err
}

// age is how long before now t was, to the second ("-" when unset).
func age(now time.Time, t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	d := max(now.Sub(t.AsTime()), 0)
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Truncate(time.Second).String()
}
