package sqlstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// PendingLeases runs every second. On SQLite it must read the partial index
// of sessions with pending messages, not every session the instance holds:
// through pickup_connections_instance, 1,000 held sessions cost 13 ms of
// serve's one core per call (an execution trace at 5,000 live deliveries/s).
func TestPendingLeasesReadsOnlySessionsWithPendingMessages(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+pendingLeasesQuery, "instance", 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "USING INDEX pickup_connections_held_pending") {
		t.Fatalf("PendingLeases plan: %s; want a search of pickup_connections_held_pending", got)
	}
}
