package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
)

// provCluster is one real cluster of the provision workload with its
// daemon process.
type provCluster struct {
	kc   *kubetest.Cluster
	k    *kubetest.Namespaces
	name string

	mu     sync.Mutex
	daemon *daemonProc
}

// daemonProc is one `liveplane daemon` child process.
type daemonProc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *tail
}

func (d *daemonProc) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *daemonProc) kill() {
	if !d.exited() {
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// daemonSpec is what every daemon of a run shares.
type daemonSpec struct {
	bin, natsURL, token string
	resync              time.Duration
}

// startDaemon (re)starts the cluster's daemon, killing a running one, with
// extra environment (LIVEPLANE_FAILPOINTS for crash runs).
func (c *provCluster) startDaemon(spec daemonSpec, env ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.daemon != nil {
		c.daemon.kill()
	}
	d := &daemonProc{done: make(chan struct{}), stderr: &tail{max: 8 << 10}}
	d.cmd = exec.Command(spec.bin, "daemon", "--cluster", c.name, "--kubeconfig", c.kc.Kubeconfig(),
		"--nats", spec.natsURL, "--nats-token", spec.token, "--resync", spec.resync.String(), "--log-level", "warn")
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stderr = d.stderr
	d.cmd.WaitDelay = time.Second
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start daemon %s: %w", c.name, err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	c.daemon = d
	return nil
}

func (c *provCluster) current() *daemonProc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.daemon
}

func (c *provCluster) stopDaemon() {
	if d := c.current(); d != nil {
		d.kill()
	}
}

// startClusters starts etcd and n apiservers (with the namespace and
// garbage-collector controllers when controllers is set) through kubetest.
func startClusters(h *harnessT, n int, controllers bool) ([]*provCluster, error) {
	var out []*provCluster
	err := withHarness(func() {
		kubetest.Binaries(h)
		etcd := kubetest.Etcd(h)
		for i := range n {
			var opts []kubetest.Option
			if controllers {
				opts = append(opts, kubetest.WithControllers())
			}
			name := fmt.Sprintf("c%d", i+1)
			kc := kubetest.APIServer(h, etcd, name, opts...)
			k, err := kc.Namespaces()
			if err != nil {
				h.Fatalf("cluster %s: %v", name, err)
			}
			out = append(out, &provCluster{kc: kc, name: name, k: k})
		}
	})
	return out, err
}

// waitExit waits for the daemon to exit (a failpoint fired) or ctx.
func waitExit(ctx context.Context, d *daemonProc) bool {
	select {
	case <-d.done:
		return true
	case <-ctx.Done():
		return false
	}
}
