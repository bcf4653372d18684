package cli

import (
	"context"

	"github.com/liveplane/liveplane/internal/bench"
)

func runBench(ctx context.Context, e *env, args []string) error {
	workloads := bench.Workloads()
	workloads["pickup"] = &bench.Pickup{}
	workloads["coap"] = &bench.CoAP{}
	workloads["coap-sessions"] = &bench.CoAPSessions{}
	workloads["enrol"] = &bench.Enrol{}
	workloads["stream"] = &bench.Stream{}
	workloads["provision"] = &bench.Provision{}
	return bench.Main(ctx, args, e.stdout, e.stderr, workloads)
}
