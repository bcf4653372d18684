package bench

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestHarnessTurnsFatalIntoErrorAndCleansUp(t *testing.T) {
	h, err := newHarnessT(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	h.Cleanup(func() { order = append(order, 1) })
	h.Cleanup(func() { order = append(order, 2) })
	dir := h.TempDir()
	err = withHarness(func() { h.Fatalf("apiserver %s not ready", "c1") })
	if err == nil || err.Error() != "apiserver c1 not ready" || !h.Failed() {
		t.Fatalf("err = %v, failed = %v", err, h.Failed())
	}
	h.close()
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Fatalf("cleanups ran %v, want last registered first", order)
	}
	if !strings.HasPrefix(dir, h.dir) {
		t.Fatalf("temp dir %s outside %s", dir, h.dir)
	}
}

func TestProvisionStartsItsOwnServer(t *testing.T) {
	w := map[string]Workload{"provision": &Provision{}}
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"provision", "--spawn"}, {"provision", "--server", "http://127.0.0.1:1"}} {
		err := Main(context.Background(), args, &out, &errOut, w)
		if err == nil || !strings.Contains(err.Error(), "starts its own server") {
			t.Fatalf("%v: err = %v", args, err)
		}
	}
	if err := Main(context.Background(), []string{"provision", "--clusters", "0", "--client-cpus", "none"}, &out, &errOut, w); err == nil ||
		!strings.Contains(err.Error(), "at least 1") {
		t.Fatalf("--clusters 0: %v", err)
	}
}
