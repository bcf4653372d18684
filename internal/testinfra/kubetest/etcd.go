package kubetest

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

const (
	etcdReadyTimeout = 30 * time.Second
	stopGrace        = 10 * time.Second
)

// Etcd starts a one-member etcd on random loopback ports with its data in
// t.TempDir(), waits until it reports healthy and stops it in t.Cleanup.
// It returns the client endpoint, for APIServer's etcdEndpoint.
func Etcd(t TB) (endpoint string) {
	t.Helper()
	bin := filepath.Join(Binaries(t), "etcd")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "etcd.log")
	dumpOnFailure(t, logPath)
	// A free port can be taken before etcd binds it: try again on new ones.
	for attempt := 1; ; attempt++ {
		client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		p := startProc(t, "etcd", logPath, bin,
			"--name=kubetest",
			"--data-dir="+filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--listen-client-urls="+client,
			"--advertise-client-urls="+client,
			"--listen-peer-urls="+peer,
			"--initial-advertise-peer-urls="+peer,
			"--initial-cluster=kubetest="+peer,
			"--initial-cluster-state=new",
			// Test data is thrown away: skip fsync, which dominates etcd's
			// latency on shared CI disks.
			"--unsafe-no-fsync",
			"--log-level=warn",
		)
		hc := &http.Client{}
		took, err := p.waitReady(etcdReadyTimeout, func(ctx context.Context) error {
			return getOK(ctx, hc, client+"/health", "", `"health":"true"`)
		})
		if err != nil && attempt < 3 && p.lostPortRace() {
			continue
		}
		t.Cleanup(func() { p.stop(stopGrace) })
		if err != nil {
			t.Fatalf("kubetest: %v", err)
		}
		t.Logf("kubetest: etcd ready at %s in %v", client, took.Round(time.Millisecond))
		return client
	}
}
