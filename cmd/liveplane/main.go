// Command liveplane is the whole product: `liveplane serve`, `daemon`,
// `relay`, and a CLI over the management API. See `liveplane help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/liveplane/liveplane/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
