package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is n JetStream servers routed to each other on loopback: the
// shape of a production NATS cluster, in the test process.
type Cluster struct {
	t       testing.TB
	Servers []*server.Server
	opts    []*server.Options
}

// StartCluster runs an n-node JetStream cluster (n >= 3 for quorum to
// survive one node) and waits until JetStream has a meta leader. Servers
// are shut down by t.Cleanup.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	// The ports are picked free, then bound by the servers: another process
	// can take one in between (a parallel test's listener), and that node
	// never comes up. Start again on new ports then.
	var err error
	for range 3 {
		var c *Cluster
		if c, err = startCluster(t, n); err == nil {
			c.WaitJetStream(30 * time.Second)
			return c
		}
		t.Logf("natstest: %v; starting the cluster again on other ports", err)
	}
	t.Fatal(err)
	return nil
}

func startCluster(t testing.TB, n int) (*Cluster, error) {
	routePorts := make([]int, n)
	clientPorts := make([]int, n)
	for i := range n {
		routePorts[i], clientPorts[i] = freePort(t), freePort(t)
	}
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &Cluster{t: t}
	for i := range n {
		o := Options(t)
		o.ServerName = fmt.Sprintf("n%d", i)
		o.Port = clientPorts[i]
		o.Cluster = server.ClusterOpts{Name: "liveplane-test", Host: "127.0.0.1", Port: routePorts[i]}
		o.Routes = routes
		srv, err := tryRun(t, o)
		if err != nil {
			for _, s := range c.Servers {
				s.Shutdown()
			}
			return nil, err
		}
		c.opts = append(c.opts, o)
		c.Servers = append(c.Servers, srv)
	}
	return c, nil
}

// URLs is the comma-separated client URLs of the nodes that are up.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.Servers {
		if s != nil && s.Running() {
			urls = append(urls, s.ClientURL())
		}
	}
	return strings.Join(urls, ",")
}

// Kill stops node i at once (its client connections drop), like a crash.
func (c *Cluster) Kill(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Restart brings node i back on its ports and store.
func (c *Cluster) Restart(i int) {
	c.Servers[i] = Run(c.t, c.opts[i].Clone())
	c.WaitJetStream(30 * time.Second)
}

// WaitJetStream waits until the cluster answers JetStream requests (a meta
// leader is elected).
func (c *Cluster) WaitJetStream(timeout time.Duration) {
	c.t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1))
	if err != nil {
		c.t.Fatalf("natstest: connect to cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatalf("natstest: %v", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("natstest: cluster JetStream not ready after %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
