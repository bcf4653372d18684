// Package config turns defaults, a YAML file, LIVEPLANE_* environment
// variables and command-line flags into the typed settings of each liveplane
// subcommand (Serve, Daemon, Relay, and Client for the CLI nouns).
//
// Precedence, lowest first: default < file (--config FILE or
// LIVEPLANE_CONFIG) < environment < flags set on the command line. Each
// command has one table of settings (see settings() in serve.go and its
// siblings); flag name, file key, environment name, default, help and secrecy
// all come from that table, so they cannot drift apart.
//
// Every value remembers where it came from, so a validation error can say
// "invalid --http "127.0.0.1:99999" (from LIVEPLANE_HTTP): port out of range"
// and printing the configuration can show the source of each line. Secrets
// are masked whenever a value is shown: in errors, in String and in LogValue.
//
// The package never logs: problems that should not stop a command (an unknown
// LIVEPLANE_* variable, a token passed on the command line) come back as
// warning strings for the caller to log.
package config
