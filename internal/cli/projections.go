package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/liveplane/liveplane/internal/app"
	"github.com/liveplane/liveplane/internal/config"
)

// runProjections: `liveplane projections rebuild [--swap] [serve's flags]`.
func runProjections(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "rebuild" {
		return usageError{"usage: liveplane projections rebuild [--swap] [--data-dir DIR | --database URL --nats URL]"}
	}
	fs := flag.NewFlagSet("liveplane projections rebuild", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	swap := fs.Bool("swap", false, "replace the live read model with the rebuilt one")
	cfg, _, err := config.LoadServe(fs, args[1:], e.vars)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{err.Error()}
	}
	log := app.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	res, err := app.RebuildProjections(ctx, cfg, *swap, log)
	if err != nil {
		return err
	}
	verdict := "equal to the live read model"
	if !res.Equal {
		verdict = "DIFFERENT from the live read model"
	}
	fmt.Fprintf(e.stdout, "rebuilt from %d events in %v: %s; swapped=%v\n", res.Events, res.Duration.Round(1e6), verdict, res.Swapped)
	if !res.Equal && !res.Swapped {
		return errors.New("rebuilt read model differs from the live one (run with --swap to replace it)")
	}
	return nil
}
