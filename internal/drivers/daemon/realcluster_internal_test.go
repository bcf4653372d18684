package daemon

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/client-go/kubernetes"

	"github.com/liveplane/liveplane/internal/driven/kube"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

// RealCluster is what the daemon tests on a real apiserver stand on (those
// of this package and of daemon_test): etcd and a kube-apiserver named
// after the cluster, an embedded NATS server with liveplane's streams, and
// liveplane's kube adapter on the apiserver.
type RealCluster struct {
	API   *kubetest.Cluster
	Admin *kubernetes.Clientset
	NC    *nats.Conn
	JS    jetstream.JetStream
	KC    *kube.Client
}

func StartRealCluster(t *testing.T, cluster string, opts ...kubetest.Option) RealCluster {
	t.Helper()
	kubetest.Binaries(t)
	c := kubetest.APIServer(t, kubetest.Etcd(t), cluster, opts...)
	url, _ := natstest.Start(t)
	nc, js := natstest.Connect(t, url)
	if err := natsbus.EnsureStreams(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	kc, err := kube.New(c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	return RealCluster{API: c, Admin: kubernetes.NewForConfigOrDie(c.RestConfig()), NC: nc, JS: js, KC: kc}
}
