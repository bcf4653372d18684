package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

func runClusters(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		return usagef("usage: liveplane clusters list [flags]")
	}
	c := newClientCommand("clusters list", e)
	api, err := c.parse(e, args[1:])
	if err != nil {
		return err
	}
	res, err := api.clusters.ListClusters(ctx, connect.NewRequest(&lpv1.ListClustersRequest{}))
	if err != nil {
		return err
	}
	var rows [][]string
	for _, cl := range res.Msg.GetClusters() {
		rows = append(rows, []string{cl.GetName(), strings.TrimPrefix(cl.GetHealth().String(), "CLUSTER_HEALTH_"),
			stamp(cl.GetLastHeartbeatTime()), stamp(cl.GetRegisterTime()), cl.GetDaemonVersion()})
	}
	return api.print(res.Msg, []string{"CLUSTER", "HEALTH", "LAST HEARTBEAT", "REGISTERED", "DAEMON"}, rows)
}

// clusterLine is one cluster's report in one line: its conditions that are
// True, or the reason of those that are not.
func clusterLine(s *lpv1.AccountClusterStatus) string {
	var parts []string
	for _, c := range s.GetConditions() {
		p := c.GetType() + "=" + c.GetStatus()
		if c.GetReason() != "" && (c.GetStatus() != "True" || c.GetType() == "Degraded") {
			p += "(" + c.GetReason() + ")"
		}
		parts = append(parts, p)
	}
	if s.GetDeleted() {
		parts = append(parts, "Deleted")
	}
	return fmt.Sprintf("%s gen=%d %s", s.GetCluster(), s.GetObservedGeneration(), strings.Join(parts, " "))
}

func printClusterStatus(api *apiClient, a *lpv1.Account) error {
	if api.cfg.Output == "json" {
		return nil
	}
	if q := a.GetQuota(); q != nil || a.GetGroup() != "" {
		fmt.Fprintf(api.out, "\nquota: cpu=%s memory=%s pods=%d; group: %s\n",
			dash(q.GetCpu()), dash(q.GetMemory()), q.GetPods(), dash(a.GetGroup()))
	}
	if len(a.GetClusters()) == 0 {
		return nil
	}
	var rows [][]string
	for _, s := range a.GetClusters() {
		var conds []string
		for _, c := range s.GetConditions() {
			conds = append(conds, c.GetType()+"="+c.GetStatus()+reasonSuffix(c))
		}
		if s.GetDeleted() {
			conds = append(conds, "Deleted")
		}
		rows = append(rows, []string{s.GetCluster(), s.GetNamespace(), fmt.Sprint(s.GetObservedGeneration()), strings.Join(conds, " ")})
	}
	fmt.Fprintln(api.out)
	return api.print(nil, []string{"CLUSTER", "NAMESPACE", "OBSERVED GEN", "CONDITIONS"}, rows)
}

func reasonSuffix(c *lpv1.ClusterCondition) string {
	if c.GetReason() == "" {
		return ""
	}
	return "(" + c.GetReason() + ")"
}

// waitReady polls GetAccount until READY, printing a line whenever a
// cluster's report changes.
func waitReady(ctx context.Context, api *apiClient, e *env, id string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	seen := map[string]string{}
	for {
		res, err := api.accounts.GetAccount(ctx, connect.NewRequest(&lpv1.GetAccountRequest{Id: id}))
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			a := res.Msg.GetAccount()
			for _, s := range a.GetClusters() {
				if l := clusterLine(s); seen[s.GetCluster()] != l {
					seen[s.GetCluster()] = l
					fmt.Fprintf(e.stderr, "  %s\n", l)
				}
			}
			if a.GetState() == lpv1.AccountState_ACCOUNT_STATE_READY {
				fmt.Fprintf(e.stderr, "account %s is READY in %d clusters\n", a.GetName(), len(a.GetClusters()))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("account not READY within --wait " + limit.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
