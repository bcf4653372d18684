// Package cli is the command line: it parses a subcommand's configuration,
// runs it, and turns its error into one line and an exit code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"connectrpc.com/connect"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitFailure     = 1  // anything not listed below
	exitUsage       = 2  // bad flags, bad configuration
	exitAuth        = 3  // unauthenticated or permission denied
	exitNotFound    = 4  // the thing does not exist (or is not visible to this token)
	exitConflict    = 5  // already exists, or a stale expected version
	exitUnavailable = 69 // the server or a dependency cannot be reached (EX_UNAVAILABLE)
)

// usageError marks errors in how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// env is what every command gets from the process.
type env struct {
	vars   []string
	stdout io.Writer
	stderr io.Writer
}

func commands() map[string]command {
	return map[string]command{
		"serve":             {"run the control plane (HTTP API, event bus, storage)", runServe},
		"daemon":            {"run the per-cluster provisioning daemon", runDaemon},
		"relay":             {"run the browser-facing live-log relay", runRelay},
		"version":           {"print the version", runVersion},
		"accounts":          {"manage accounts: create|get|list|update|delete", runAccounts},
		"apikeys":           {"manage API keys: create|list|revoke", runAPIKeys},
		"bench":             {"run a benchmark workload", runBench},
		"devices":           {"manage devices: create|list|show|disable|delete", runDevices},
		"config":            {"desired device configuration and account defaults: get|set|unset|history", runConfig},
		"provisioning-keys": {"manage the keys devices enrol with: create|list|revoke", runProvKeys},
		"projections":       {"rebuild the read models from the event stream", runProjections},
		"clusters":          {"list the registered Kubernetes clusters and their health", runClusters},
		"logs":              {"follow a device's live log: follow --device ID [--since N]", runLogs},
		"pickup":            {"list the message pickup queues: queues [--sort depth|age]", runPickup},
		"telemetry":         {"print a device's activity or sensor history (table, JSON, CSV)", runTelemetry},
	}
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args, vars []string, stdout, stderr io.Writer) int {
	e := &env{vars: vars, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "liveplane: unknown command %q (see liveplane help)\n", args[0])
		return exitUsage
	}
	err := cmd.run(ctx, e, args[1:])
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "liveplane %s: %s\n", args[0], oneLine(err))
	return exitCode(err)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "liveplane: one control plane for devices, live logs, pickup queues and clusters.\n\nUsage: liveplane <command> [flags]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'liveplane <command> -h' for its flags. Every flag can also be set as LIVEPLANE_<FLAG> or in --config FILE.")
}

func oneLine(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return fmt.Sprintf("%s: %s", ce.Code(), ce.Message())
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		return exitAuth
	case connect.CodeNotFound:
		return exitNotFound
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return exitConflict
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		return exitUnavailable
	case connect.CodeInvalidArgument:
		return exitUsage
	}
	return exitFailure
}
