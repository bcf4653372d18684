package kubetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
)

const (
	// Admin is the user every Cluster has: a static token in system:masters.
	Admin = "admin"

	apiReadyTimeout = 90 * time.Second
)

// Cluster is one kube-apiserver (and, WithControllers, its controller
// manager) serving the objects under /<name> in a shared etcd. Start and
// Stop must be called from the test's goroutine; the accessors are safe
// from any goroutine.
type Cluster struct {
	t    TB
	name string
	bins string
	dir  string
	etcd string
	port int
	opts options
	sec  *secrets
	api  *proc
	kcm  *proc
}

// Option configures APIServer.
type Option func(*options)

type options struct {
	controllers []string
	users       []user
	flags       []string
}

// WithControllers also runs kube-controller-manager with the named
// controllers (default namespace and garbagecollector, so a deleted
// namespace is emptied and really goes away instead of staying Terminating).
func WithControllers(controllers ...string) Option {
	if len(controllers) == 0 {
		controllers = []string{"namespace", "garbagecollector"}
	}
	return func(o *options) { o.controllers = controllers }
}

// WithUser adds a static-token user with the given groups and no RBAC
// bindings: a restricted identity for authorization tests. Use
// RestConfigFor(name) or KubeconfigFor(name) to act as it.
func WithUser(name string, groups ...string) Option {
	return func(o *options) { o.users = append(o.users, user{name: name, groups: groups}) }
}

// WithFlags passes extra flags to kube-apiserver (later flags win).
func WithFlags(flags ...string) Option {
	return func(o *options) { o.flags = append(o.flags, flags...) }
}

// APIServer starts a kube-apiserver on a random loopback port storing its
// objects under /<name> in the etcd at etcdEndpoint, waits until /readyz is
// ok and stops it (and its controllers) in t.Cleanup. Apiservers on one etcd
// with different names are independent clusters.
func APIServer(t TB, etcdEndpoint, name string, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t, name: name, bins: Binaries(t), dir: t.TempDir(), etcd: etcdEndpoint}
	c.opts.users = []user{{name: Admin, groups: []string{"system:masters"}}}
	for _, o := range opts {
		o(&c.opts)
	}
	c.sec = writeSecrets(t, c.dir, c.opts.users)
	dumpOnFailure(t, c.logPath("kube-apiserver"), c.logPath("kube-controller-manager"))
	// Nothing outlives the test; its state is thrown away, so no need to
	// wait for a graceful shutdown. Controllers first: they watch the API.
	t.Cleanup(func() {
		c.kcm.stop(0)
		c.api.stop(0)
	})
	for attempt := 1; ; attempt++ {
		c.port = freePort(t)
		err := c.startAPIServer()
		if err != nil && attempt < 3 && c.api.lostPortRace() {
			continue
		}
		if err != nil {
			t.Fatalf("kubetest: cluster %s: %v", name, err)
		}
		break
	}
	for _, u := range c.opts.users {
		if err := os.WriteFile(c.KubeconfigFor(u.name), c.sec.kubeconfig(name, c.URL(), u.name), 0o600); err != nil {
			t.Fatalf("kubetest: kubeconfig: %v", err)
		}
	}
	if len(c.opts.controllers) > 0 {
		c.startControllers()
	}
	return c
}

// Name is the cluster's name, also its etcd prefix without the slash.
func (c *Cluster) Name() string { return c.name }

// URL is the apiserver's https address on 127.0.0.1.
func (c *Cluster) URL() string { return "https://127.0.0.1:" + strconv.Itoa(c.port) }

// Kubeconfig is the path of a kubeconfig file for the admin user.
func (c *Cluster) Kubeconfig() string { return c.KubeconfigFor(Admin) }

// KubeconfigFor is the path of a kubeconfig file for a WithUser user.
func (c *Cluster) KubeconfigFor(user string) string {
	return filepath.Join(c.dir, "kubeconfig-"+user+".yaml")
}

// RestConfig is a fresh client-go configuration for the admin user.
func (c *Cluster) RestConfig() *rest.Config { return c.RestConfigFor(Admin) }

// RestConfigFor is a fresh client-go configuration for a WithUser user; it
// panics on a user the cluster was not given.
func (c *Cluster) RestConfigFor(user string) *rest.Config {
	tok, ok := c.sec.tokens[user]
	if !ok {
		panic("kubetest: cluster " + c.name + " has no user " + user)
	}
	return &rest.Config{
		Host:            c.URL(),
		BearerToken:     tok,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.sec.caPEM},
		QPS:             100,
		Burst:           200,
	}
}

// Stop stops the apiserver (not its controllers, which ride out the outage
// as they would in a real cluster) and waits until its port is closed.
// Stopping a stopped cluster does nothing.
func (c *Cluster) Stop() {
	start := time.Now()
	if c.api.stop(stopGrace) {
		c.t.Logf("kubetest: kube-apiserver %s stopped in %v", c.name, time.Since(start).Round(time.Millisecond))
	}
}

// Start restarts a stopped apiserver on the same port, etcd prefix and
// credentials, and the controller manager if it has exited meanwhile.
func (c *Cluster) Start() {
	c.t.Helper()
	if c.api != nil && !c.api.exited() {
		return
	}
	if err := c.startAPIServer(); err != nil {
		c.t.Fatalf("kubetest: cluster %s restart: %v", c.name, err)
	}
	if len(c.opts.controllers) > 0 && (c.kcm == nil || c.kcm.exited()) {
		c.startControllers()
	}
}

func (c *Cluster) logPath(component string) string {
	return filepath.Join(c.dir, component+".log")
}

func (c *Cluster) startAPIServer() error {
	args := []string{
		"--etcd-servers=" + c.etcd,
		"--etcd-prefix=/" + c.name,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.port),
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(c.dir, "certs"),
		"--tls-cert-file=" + c.sec.certFile,
		"--tls-private-key-file=" + c.sec.keyFile,
		"--token-auth-file=" + c.sec.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + c.sec.saPubFile,
		"--service-account-signing-key-file=" + c.sec.saKeyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		// Fewer moving parts at start-up; tests do not exercise them.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		// Close open watches on SIGTERM instead of waiting for their
		// clients: without it Stop takes the whole grace period.
		"--shutdown-watch-termination-grace-period=1s",
	}
	c.api = startProc(c.t, "kube-apiserver "+c.name, c.logPath("kube-apiserver"),
		filepath.Join(c.bins, "kube-apiserver"), append(args, c.opts.flags...)...)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.sec.caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	took, err := c.api.waitReady(apiReadyTimeout, func(ctx context.Context) error {
		return getOK(ctx, hc, c.URL()+"/readyz", c.sec.tokens[Admin], "ok")
	})
	if err != nil {
		return err
	}
	c.t.Logf("kubetest: kube-apiserver %s ready at %s in %v", c.name, c.URL(), took.Round(time.Millisecond))
	return nil
}

func (c *Cluster) String() string { return fmt.Sprintf("cluster %s at %s", c.name, c.URL()) }
