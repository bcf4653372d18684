// Command natscluster runs a NATS JetStream cluster of --nodes servers
// routed to each other on loopback, in the foreground, for benchmarks that
// need the shape of a production cluster (liveplane bench stream --mode
// replicas): client ports --port, --port+1, ...; route ports --route-port,
// --route-port+1, ... It prints the client URLs and runs until interrupted.
//
//	taskset -c 0 go run ./tools/natscluster --nodes 2 --port 14222 --route-port 16222 --dir /tmp/nc
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	nodes := flag.Int("nodes", 2, "servers in the cluster")
	port := flag.Int("port", 14222, "client port of the first server; the others follow")
	routePort := flag.Int("route-port", 16222, "route port of the first server; the others follow")
	dir := flag.String("dir", "", "JetStream store root (default: a temporary directory, removed at exit)")
	flag.Parse()
	if *nodes < 1 {
		fail("--nodes must be at least 1")
	}
	root := *dir
	if root == "" {
		d, err := os.MkdirTemp("", "natscluster-")
		if err != nil {
			fail(err.Error())
		}
		defer os.RemoveAll(d)
		root = d
	}
	var routes []*url.URL
	for i := range *nodes {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", *routePort+i)})
	}
	var servers []*server.Server
	var urls []string
	for i := range *nodes {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       *port + i,
			JetStream:  true,
			StoreDir:   filepath.Join(root, fmt.Sprintf("n%d", i)),
			Cluster:    server.ClusterOpts{Name: "liveplane-bench", Host: "127.0.0.1", Port: *routePort + i},
			Routes:     routes,
			NoSigs:     true,
		}
		s, err := server.NewServer(o)
		if err != nil {
			fail(err.Error())
		}
		go s.Start()
		servers = append(servers, s)
		urls = append(urls, s.ClientURL())
	}
	for _, s := range servers {
		if !s.ReadyForConnections(30 * time.Second) {
			fail("a server did not accept connections within 30 s")
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for !hasMetaLeader(servers) {
		if time.Now().After(deadline) {
			fail("JetStream has no meta leader after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Println(strings.Join(urls, ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	for _, s := range servers {
		s.Shutdown()
	}
	for _, s := range servers {
		s.WaitForShutdown()
	}
}

func hasMetaLeader(servers []*server.Server) bool {
	for _, s := range servers {
		if s.JetStreamIsLeader() {
			return true
		}
	}
	return false
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "natscluster:", msg)
	os.Exit(1)
}
