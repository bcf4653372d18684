package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/liveplane/liveplane/internal/app"
	"github.com/liveplane/liveplane/internal/config"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("liveplane serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets masked) and exit")
	cfg, warnings, err := config.LoadServe(fs, args, e.vars)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{err.Error()}
	}
	if *printConfig {
		_, err := fmt.Fprint(e.stdout, cfg.String())
		return err
	}
	log := app.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	for _, w := range warnings {
		log.Warn(w)
	}
	return app.Serve(ctx, cfg, log, e.stderr)
}

// runRelay runs the browser-facing live-log relay.
func runRelay(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("liveplane relay", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets masked) and exit")
	cfg, warnings, err := config.LoadRelay(fs, args, e.vars)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{err.Error()}
	}
	if *printConfig {
		_, err := fmt.Fprint(e.stdout, cfg.String())
		return err
	}
	if cfg.ServiceToken == "" {
		return usagef("--service-token is required (one of serve's --relay-tokens)")
	}
	log := app.NewLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	for _, w := range warnings {
		log.Warn(w)
	}
	return app.Relay(ctx, cfg, log)
}
