package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// The operator's queue listing over the real binary: queues filled through
// the gateway, a live session, a push sent to a local webhook; the admin
// token lists them (RPC and CLI), an account key is refused.
func TestPickupQueuesListing(t *testing.T) {
	wake := &hook{}
	hs := httptest.NewServer(wake)
	defer hs.Close()
	s := startServe(t, "", nil, "--push-webhook-allow", "http://127.0.0.1")
	key := s.accountKey(t, "mediators")
	gw := s.pickupAddr(t)

	adder := mustDialMPR(t, gw, key)
	for range 3 {
		adder.add("conn-deep", nil)
	}
	adder.add("conn-push", map[string]string{"type": "webhook", "token": hs.URL + "/wake"})
	holder := mustDialMPR(t, gw, key)
	var ok bool
	holder.must("addLiveSession", map[string]string{"connectionId": "conn-live", "sessionId": "sess-e2e"}, &ok)
	if !ok {
		t.Fatal("addLiveSession answered false")
	}
	adder.add("conn-live", nil)
	adder.add("conn-live", nil)

	rpc := func(token string) liveplanev1connect.PickupServiceClient {
		return liveplanev1connect.NewPickupServiceClient(http.DefaultClient, s.url, bearer(token))
	}
	list := func(token string, req *lpv1.ListQueuesRequest) (*lpv1.ListQueuesResponse, error) {
		res, err := rpc(token).ListQueues(context.Background(), connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	byConn := func(r *lpv1.ListQueuesResponse) map[string]*lpv1.PickupQueue {
		m := map[string]*lpv1.PickupQueue{}
		for _, q := range r.GetQueues() {
			m[q.GetConnectionId()] = q
		}
		return m
	}
	// The push is sent asynchronously: wait for the webhook, then for the count.
	deadline := time.Now().Add(10 * time.Second)
	var got *lpv1.ListQueuesResponse
	for {
		var err error
		got, err = list(s.token, &lpv1.ListQueuesRequest{Sort: lpv1.QueueSort_QUEUE_SORT_DEPTH})
		if err != nil {
			t.Fatalf("admin ListQueues: %v", err)
		}
		if byConn(got)["conn-push"].GetPushesSent() == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var order []string
	for _, q := range got.GetQueues() {
		order = append(order, q.GetConnectionId())
	}
	if strings.Join(order, ",") != "conn-deep,conn-live,conn-push" {
		t.Fatalf("by depth: %v", order)
	}
	qs := byConn(got)
	if d := qs["conn-deep"]; d.GetDepth() != 3 || d.GetPending() != 3 || d.GetOldestMessageTime() == nil || d.GetSession() != nil {
		t.Fatalf("conn-deep: %v", d)
	}
	l := qs["conn-live"]
	if l.GetDepth() != 2 || l.GetPending() != 0 {
		t.Fatalf("conn-live: %v (both messages in flight to the session)", l)
	}
	if ss := l.GetSession(); ss.GetSessionId() != "sess-e2e" || !ss.GetLive() || ss.GetInstance() == "" ||
		ss.GetStartTime() == nil || time.Since(ss.GetStartTime().AsTime()) > time.Minute {
		t.Fatalf("conn-live session: %v", ss)
	}
	if p := qs["conn-push"]; p.GetPushesSent() != 1 || p.GetLastPushTime() == nil || wake.count() != 1 {
		t.Fatalf("conn-push: %v, webhook called %d times", p, wake.count())
	}

	// Refusals are clear connect errors.
	acctKey := s.accountKey(t, "tenant")
	for _, c := range []struct {
		token string
		req   *lpv1.ListQueuesRequest
		code  connect.Code
		want  string
	}{
		{acctKey, &lpv1.ListQueuesRequest{}, connect.CodePermissionDenied, "admin token"},
		{key, &lpv1.ListQueuesRequest{}, connect.CodePermissionDenied, "admin token"},
		{"lpk_forged", &lpv1.ListQueuesRequest{}, connect.CodeUnauthenticated, ""},
		{s.token, &lpv1.ListQueuesRequest{PageSize: 501}, connect.CodeInvalidArgument, "limit"},
		{s.token, &lpv1.ListQueuesRequest{PageToken: "garbage"}, connect.CodeInvalidArgument, "page_token"},
		{s.token, &lpv1.ListQueuesRequest{Sort: 9}, connect.CodeInvalidArgument, "sort"},
	} {
		_, err := list(c.token, c.req)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != c.code || !strings.Contains(ce.Message(), c.want) {
			t.Errorf("%v with token %.8s: %v, want %v containing %q", c.req, c.token, err, c.code, c.want)
		}
	}

	// Pages: one queue at a time, by age (oldest first).
	var pages []string
	token := ""
	for {
		r, err := list(s.token, &lpv1.ListQueuesRequest{Sort: lpv1.QueueSort_QUEUE_SORT_AGE, PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range r.GetQueues() {
			pages = append(pages, q.GetConnectionId())
		}
		if token = r.GetNextPageToken(); token == "" {
			break
		}
	}
	if strings.Join(pages, ",") != "conn-deep,conn-push,conn-live" {
		t.Fatalf("by age, a page at a time: %v", pages)
	}

	// The CLI: stable JSON, a table, the same refusals with their exit codes.
	admin := []string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + s.token}
	out, errOut, code := cli(t, admin, "pickup", "queues", "--sort", "depth", "--limit", "2", "--json")
	var js struct {
		Queues []struct {
			AccountID    string `json:"accountId"`
			ConnectionID string `json:"connectionId"`
			Depth        string `json:"depth"`
			Session      *struct {
				SessionID string `json:"sessionId"`
				Live      bool   `json:"live"`
			} `json:"session"`
		} `json:"queues"`
		NextPageToken string `json:"nextPageToken"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || len(js.Queues) != 2 || js.Queues[0].Depth != "3" ||
		js.Queues[1].Session == nil || js.Queues[1].Session.SessionID != "sess-e2e" || js.NextPageToken == "" {
		t.Fatalf("pickup queues --json (exit %d, %s):\n%s", code, errOut, out)
	}
	out, errOut, code = cli(t, admin, "pickup", "queues", "--json", "--sort", "depth", "--page-token", js.NextPageToken)
	if code != 0 || !strings.Contains(out, `"connectionId": "conn-push"`) || strings.Contains(out, "conn-deep") {
		t.Fatalf("pickup queues --page-token (exit %d, %s):\n%s", code, errOut, out)
	}
	out, _, code = cli(t, admin, "pickup", "queues", "--sort", "age")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "ACCOUNT") || !strings.Contains(lines[1], "conn-deep") ||
		!strings.Contains(lines[3], "sess-e2e @ ") {
		t.Fatalf("pickup queues --sort age (exit %d):\n%s", code, out)
	}
	for _, c := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{[]string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + acctKey}, []string{"pickup", "queues"}, 3, "permission_denied"},
		{admin, []string{"pickup", "queues", "--sort", "size"}, 2, "--sort"},
		{admin, []string{"pickup", "list"}, 2, "usage"},
	} {
		_, stderr, code := cli(t, c.env, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d, one line containing %q", c.args, code, stderr, c.code, c.want)
		}
	}
}
