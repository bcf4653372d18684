package kubetest

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const kcmReadyTimeout = 60 * time.Second

// startControllers runs kube-controller-manager against the cluster as the
// admin user, on loopback, without leader election, and waits for /healthz.
//
// A deleted namespace takes at least 5 s to go: the namespace controller
// holds each deletion for a fixed grace period (namespaceDeletionGracePeriod
// upstream) before emptying it; tests must wait longer than that.
func (c *Cluster) startControllers() {
	c.t.Helper()
	caFile := filepath.Join(c.dir, "ca.crt")
	if err := os.WriteFile(caFile, c.sec.caPEM, 0o644); err != nil {
		c.t.Fatalf("kubetest: %v", err)
	}
	for attempt := 1; ; attempt++ {
		port := freePort(c.t)
		c.kcm = startProc(c.t, "kube-controller-manager "+c.name, c.logPath("kube-controller-manager"),
			filepath.Join(c.bins, "kube-controller-manager"),
			"--kubeconfig="+c.Kubeconfig(),
			"--controllers="+strings.Join(c.opts.controllers, ","),
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port="+strconv.Itoa(port),
			"--cert-dir="+filepath.Join(c.dir, "kcm-certs"),
			// Only read when the serviceaccount-token controller is asked for.
			"--service-account-private-key-file="+c.sec.saKeyFile,
			"--root-ca-file="+caFile,
			// The namespace controller lists and deletes every resource
			// type; the default 20 requests/s makes a deletion take seconds.
			"--kube-api-qps=500",
			"--kube-api-burst=1000",
			"--profiling=false",
		)
		// Its serving certificate is self-signed in kcm-certs; /healthz
		// needs no credentials.
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		url := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
		took, err := c.kcm.waitReady(kcmReadyTimeout, func(ctx context.Context) error {
			return getOK(ctx, hc, url, "", "ok")
		})
		hc.CloseIdleConnections()
		if err != nil && attempt < 3 && c.kcm.lostPortRace() {
			continue
		}
		if err != nil {
			c.t.Fatalf("kubetest: cluster %s: %v", c.name, err)
		}
		c.t.Logf("kubetest: kube-controller-manager %s (%s) healthy in %v",
			c.name, strings.Join(c.opts.controllers, ","), took.Round(time.Millisecond))
		return
	}
}
