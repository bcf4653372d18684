package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"
)

// Serve configures `liveplane serve`, the control plane.
type Serve struct {
	DataDir       string        // state: the SQLite file and embedded NATS store when those defaults apply
	HTTP          string        // management RPC, /healthz, /readyz, /metrics, console
	CoAP          string        // UDP CoAP uplinks
	CoAPS         string        // UDP CoAP over DTLS-PSK
	Database      string        // "" = SQLite in DataDir; postgres://, postgresql://, sqlite:PATH, sqlite:///PATH
	NATS          string        // "" = embedded server; else nats:// or tls:// URLs, comma-separated
	NATSListen    string        // "" = embedded server has no TCP listener; host:port exposes it to daemons
	NATSToken     string        // daemons' credential for the embedded server's listener
	LogLevel      string        // debug|info|warn|error
	LogFormat     string        // text|json
	ShutdownGrace time.Duration // drain budget on shutdown, (0, 5m]
	Pickup        Pickup        // message pickup repository gateway and push (pickup.go)
	// ConfigStuckAfter is how many uplinks without an ack of the current
	// UpdateConfigCommand make a device's config sync state "stuck".
	ConfigStuckAfter int64
	LiveLog          LiveLog // live-log window and /ws stream (livelog.go)
	// GCPercent is Go's GOGC for serve when the environment sets none: the
	// heap grows by this percentage of the live heap between collections.
	GCPercent int64

	prov provenance
}

// settings is serve's table: the single source of truth for names, defaults,
// help and secrecy.
func (s *Serve) settings() []setting {
	return append([]setting{
		{name: "data-dir", def: "./data", val: stringValue{&s.DataDir},
			help: "`directory` for state: the SQLite file and the embedded NATS store, unless --database and --nats point elsewhere"},
		{name: "http", def: "127.0.0.1:8080", val: stringValue{&s.HTTP},
			help: "TCP `address` (host:port) for the management API, /healthz, /readyz, /metrics and the console"},
		{name: "coap", def: ":5683", val: stringValue{&s.CoAP},
			help: "UDP `address` for CoAP device uplinks"},
		{name: "coaps", def: ":5684", val: stringValue{&s.CoAPS},
			help: "UDP `address` for CoAP over DTLS-PSK"},
		{name: "database", secret: secretURL, val: stringValue{&s.Database},
			help: "database `URL`: empty for SQLite in the data dir, postgres://user:password@host/db for PostgreSQL, or sqlite:PATH"},
		{name: "nats", secret: secretURL, val: stringValue{&s.NATS},
			help: "NATS `URLs` (nats:// or tls://, comma-separated for a cluster); empty runs an embedded server storing in the data dir"},
		{name: "nats-listen", val: stringValue{&s.NATSListen},
			help: "TCP `address` on which the embedded NATS server accepts daemons; empty keeps it inside the process"},
		{name: "nats-token", secret: secretToken, val: stringValue{&s.NATSToken},
			help: "`token` daemons present to the embedded NATS server; required when --nats-listen is not a loopback address"},
		{name: "config-stuck-after", def: "5", val: countValue{&s.ConfigStuckAfter},
			help: "`uplinks` without an ack of a configuration command after which the device shows as stuck (1..1000)"},
		{name: "gc-percent", def: "400", val: countValue{&s.GCPercent},
			help: "heap growth, in `percent` of the live heap, that starts a garbage collection (Go's GOGC, which wins when set; Go's own default is 100); 25..10000"},
		{name: "shutdown-grace", def: "10s", val: durationValue{&s.ShutdownGrace},
			help: "how long shutdown waits for in-flight work to drain (`duration`, at most 5m)"},
	}, append(append(pickupSettings(&s.Pickup), liveLogSettings(&s.LiveLog)...), logSettings(&s.LogLevel, &s.LogFormat)...)...)
}

// logSettings are shared by every long-running command.
func logSettings(level, format *string) []setting {
	return []setting{
		{name: "log-level", def: "info", val: stringValue{level}, help: "log `level`: debug, info, warn or error"},
		{name: "log-format", def: "text", val: stringValue{format}, help: "log `format`: text or json"},
	}
}

// LoadServe registers serve's flags (and --config) on fs, parses args, and
// returns the configuration from defaults, file, environment (env holds
// "KEY=value" entries, as os.Environ returns) and flags, validated. Warnings
// are for the caller to log. Errors from fs.Parse, flag.ErrHelp included,
// come back unwrapped; any other error lists every problem found.
func LoadServe(fs *flag.FlagSet, args, env []string) (Serve, []string, error) {
	var s Serve
	l := register(fs, "serve", s.settings())
	if err := parseArgs(fs, "serve", args); err != nil {
		return Serve{}, nil, err
	}
	prov, warnings, err := l.load(env)
	s.prov = prov
	return s, warnings, errors.Join(err, s.Validate())
}

// parseArgs parses fs for a command that takes flags only.
func parseArgs(fs *flag.FlagSet, cmd string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q (settings are flags, such as --log-level debug)", cmd, fs.Arg(0))
	}
	return nil
}

// Validate reports every problem in s, one line each, joined.
func (s Serve) Validate() error {
	v := &validator{settings: s.settings(), prov: s.prov}
	v.check("data-dir", checkNotEmpty(s.DataDir))
	v.check("http", checkHostPort(s.HTTP))
	v.check("coap", checkHostPort(s.CoAP))
	v.check("coaps", checkHostPort(s.CoAPS))
	if s.ConfigStuckAfter < 1 || s.ConfigStuckAfter > 1000 {
		v.check("config-stuck-after", errors.New("must be between 1 and 1000"))
	}
	if s.GCPercent < 25 || s.GCPercent > 10000 {
		v.check("gc-percent", errors.New("must be between 25 and 10000"))
	}
	if s.Database != "" {
		v.check("database", checkDatabase(s.Database))
	}
	if s.NATS != "" {
		v.check("nats", checkNATS(s.NATS))
	}
	if s.NATSListen != "" {
		switch err := checkHostPort(s.NATSListen); {
		case err != nil:
			v.check("nats-listen", err)
		case s.NATS != "":
			v.check("nats-listen", errors.New("only the embedded NATS server listens; with --nats set, daemons connect to that NATS directly"))
		case s.NATSToken == "" && !isLoopback(s.NATSListen):
			v.check("nats-token", fmt.Errorf("required when %s is not a loopback address: "+
				"anyone who can reach it could otherwise read and publish every event", v.describe("nats-listen")))
		}
	}
	checkLogging(v, s.LogLevel, s.LogFormat)
	validatePickup(v, s.Pickup)
	validateLiveLog(v, s.LiveLog)
	v.distinctPorts("TCP", "http", "pickup")
	v.check("shutdown-grace", checkGrace(s.ShutdownGrace))
	v.distinctPorts("UDP", "coap", "coaps")
	if s.NATSListen != "" {
		v.distinctPorts("TCP", "http", "nats-listen")
	}
	return v.err()
}

// SQLitePath is the SQLite file to open: DATA_DIR/liveplane.db by default,
// the path of a sqlite: URL, or "" when --database is PostgreSQL.
func (s Serve) SQLitePath() string {
	if s.Database == "" {
		return filepath.Join(s.DataDir, "liveplane.db")
	}
	u, err := url.Parse(s.Database)
	if err != nil || u.Scheme != "sqlite" {
		return ""
	}
	return sqliteFile(u)
}

// NATSStoreDir is the embedded NATS server's JetStream directory,
// DATA_DIR/nats, or "" when --nats names an external server.
func (s Serve) NATSStoreDir() string {
	if s.NATS != "" {
		return ""
	}
	return filepath.Join(s.DataDir, "nats")
}

// String lists the effective settings with their sources, secrets masked.
func (s Serve) String() string { return render(s.settings(), s.prov) }

// LogValue makes slog print s masked, whichever handler is used.
func (s Serve) LogValue() slog.Value { return logValue(s.settings()) }
