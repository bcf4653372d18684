package cli

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Version is set at release build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

func runVersion(ctx context.Context, e *env, args []string) error {
	commit, modified := "unknown", false
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		commit += "-dirty"
	}
	fmt.Fprintf(e.stdout, "liveplane %s (commit %s, %s)\n", Version, commit, goVersion)
	return nil
}
