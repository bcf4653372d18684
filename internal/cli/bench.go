package cli

import (
	"context"

	"github.com/liveplane/liveplane/internal/bench"
)

func runBench(ctx context.Context, e *env, args []string) error {
	return bench.Main(ctx, args, e.stdout, e.stderr, bench.Workloads())
}
