package provisioning

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain/account"
)

// Memory is the read model folded in memory, with exactly the rules of the
// SQL projection (newer generation / heartbeat / report time wins, at
// microsecond precision; an account is finalised once, when DELETING with
// every report Deleted). A rebuild folds the whole stream here, then
// writes each row once, instead of one SQL upsert per event.
type Memory struct {
	Accounts map[string]*MemAccount
	Clusters map[string]*Cluster
	Statuses map[StatusKey]*Status
	byAcct   map[string][]StatusKey
}

// MemAccount is a row of the read model's accounts.
type MemAccount struct {
	ID, Name   string
	State      account.State
	Generation int64
	Finalized  bool
}

// StatusKey identifies one cluster's report for one account.
type StatusKey struct{ AccountID, Cluster string }

var _ ProjectionTx = (*Memory)(nil)

func NewMemory() *Memory {
	return &Memory{Accounts: map[string]*MemAccount{}, Clusters: map[string]*Cluster{},
		Statuses: map[StatusKey]*Status{}, byAcct: map[string][]StatusKey{}}
}

func us(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func (m *Memory) UpsertAccount(_ context.Context, a account.Account) error {
	cur, ok := m.Accounts[a.ID]
	switch {
	case !ok:
		m.Accounts[a.ID] = &MemAccount{ID: a.ID, Name: a.Name, State: a.State, Generation: a.Generation}
	case a.Generation > cur.Generation:
		cur.Name, cur.State, cur.Generation = a.Name, a.State, a.Generation
	}
	m.finalize(a.ID)
	return nil
}

func (m *Memory) UpsertCluster(_ context.Context, hb Heartbeat, at time.Time, registered bool) error {
	at = time.UnixMicro(us(at))
	cur, ok := m.Clusters[hb.Cluster]
	switch {
	case !ok:
		m.Clusters[hb.Cluster] = &Cluster{Name: hb.Cluster, DaemonVersion: hb.DaemonVersion, RegisteredAt: at, LastHeartbeat: at}
	case us(at) > us(cur.LastHeartbeat):
		cur.DaemonVersion, cur.LastHeartbeat = hb.DaemonVersion, at
		if registered {
			cur.RegisteredAt = at
		}
	}
	return nil
}

func (m *Memory) UpsertStatus(_ context.Context, s Status) error {
	k := StatusKey{s.AccountID, s.Cluster}
	cur, ok := m.Statuses[k]
	switch {
	case !ok:
		c := s
		m.Statuses[k] = &c
		m.byAcct[s.AccountID] = append(m.byAcct[s.AccountID], k)
	case us(s.Time) > us(cur.Time):
		*cur = s
	}
	m.finalize(s.AccountID)
	return nil
}

func (m *Memory) finalize(id string) {
	a, ok := m.Accounts[id]
	if !ok || a.Finalized || a.State != account.StateDeleting || len(m.byAcct[id]) == 0 {
		return
	}
	for _, k := range m.byAcct[id] {
		if !m.Statuses[k].Deleted {
			return
		}
	}
	a.Finalized = true
}
