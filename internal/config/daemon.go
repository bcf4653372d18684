package config

import (
	"errors"
	"flag"
	"log/slog"
	"time"
)

// Daemon configures `liveplane daemon`, one per Kubernetes cluster.
type Daemon struct {
	Cluster    string        // this cluster's name, a DNS label; used in subjects and labels
	Kubeconfig string        // "" = in-cluster configuration
	NATS       string        // the bus: serve's --nats-listen, or the external NATS
	NATSToken  string        // credential for serve's embedded NATS listener
	Resync     time.Duration // period of the level-triggered resync
	GroupRole  string        // ClusterRole an account's group is bound to
	LogLevel   string
	LogFormat  string

	prov provenance
}

func (d *Daemon) settings() []setting {
	return append([]setting{
		{name: "cluster", val: stringValue{&d.Cluster},
			help: "`name` of this cluster (a DNS label, such as eu-west-1); required"},
		{name: "kubeconfig", val: stringValue{&d.Kubeconfig},
			help: "kubeconfig `file` for this cluster; empty uses the in-cluster service account"},
		{name: "nats", secret: secretURL, val: stringValue{&d.NATS},
			help: "NATS `URLs` (nats:// or tls://, comma-separated): serve's --nats-listen or the shared NATS cluster; required"},
		{name: "nats-token", secret: secretToken, val: stringValue{&d.NATSToken},
			help: "`token` for serve's embedded NATS listener (its --nats-token)"},
		{name: "resync", def: "30s", val: durationValue{&d.Resync},
			help: "`period` of the full resync that restores namespaces deleted or edited out of band"},
		{name: "group-role", def: "edit", val: stringValue{&d.GroupRole},
			help: "`ClusterRole` each account's group is bound to in its namespace (RoleBinding liveplane-group)"},
	}, logSettings(&d.LogLevel, &d.LogFormat)...)
}

// LoadDaemon is LoadServe for `liveplane daemon`.
func LoadDaemon(fs *flag.FlagSet, args, env []string) (Daemon, []string, error) {
	var d Daemon
	l := register(fs, "daemon", d.settings())
	if err := parseArgs(fs, "daemon", args); err != nil {
		return Daemon{}, nil, err
	}
	prov, warnings, err := l.load(env)
	d.prov = prov
	return d, warnings, errors.Join(err, d.Validate())
}

// Validate reports every problem in d, one line each, joined.
func (d Daemon) Validate() error {
	v := &validator{settings: d.settings(), prov: d.prov}
	switch {
	case d.Cluster == "":
		v.check("cluster", errors.New("required: the name this cluster reports under"))
	case !isDNSLabel(d.Cluster):
		v.check("cluster", errors.New("must be a DNS label: lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit"))
	}
	if d.NATS == "" {
		v.check("nats", errors.New("required: the NATS the control plane uses (serve's --nats-listen address, or the shared cluster)"))
	} else {
		v.check("nats", checkNATS(d.NATS))
	}
	if d.Resync < 100*time.Millisecond {
		v.check("resync", errors.New("must be at least 100ms"))
	}
	checkLogging(v, d.LogLevel, d.LogFormat)
	return v.err()
}

// String lists the effective settings with their sources, secrets masked.
func (d Daemon) String() string { return render(d.settings(), d.prov) }

// LogValue makes slog print d masked, whichever handler is used.
func (d Daemon) LogValue() slog.Value { return logValue(d.settings()) }
