package cli

import (
	"context"
	"errors"
	"flag"

	"github.com/liveplane/liveplane/internal/app"
	"github.com/liveplane/liveplane/internal/config"
)

func runDaemon(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("liveplane daemon", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg, warnings, err := config.LoadDaemon(fs, args, e.vars)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{err.Error()}
	}
	log := app.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	for _, w := range warnings {
		log.Warn(w)
	}
	return app.Daemon(ctx, cfg, Version, log)
}
