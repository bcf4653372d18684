package config

import (
	"strings"
	"testing"
)

// TestServeValidation pins the wording: every line names the setting, its
// value (masked when secret) and where the value came from.
func TestServeValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"port out of range from env", nil, []string{"LIVEPLANE_HTTP=127.0.0.1:99999"},
			`invalid --http "127.0.0.1:99999" (from LIVEPLANE_HTTP): port out of range`},
		{"no port", []string{"--coap", "5683"}, nil,
			`invalid --coap "5683" (from command line): want host:port, such as 127.0.0.1:8080 or :8080`},
		{"port not a number", []string{"--coaps", ":dtls"}, nil,
			`invalid --coaps ":dtls" (from command line): port must be a number`},
		{"bad host", []string{"--http", "bad host:80"}, nil,
			`invalid --http "bad host:80" (from command line): host must be an IP address or a DNS name`},
		{"empty data dir", nil, []string{"LIVEPLANE_DATA_DIR="},
			`invalid --data-dir "" (from LIVEPLANE_DATA_DIR): must not be empty`},
		{"database scheme", []string{"--database", "mysql://u:hunter2@h/db"}, nil,
			`invalid --database "mysql://u:xxxxx@h/db" (from command line): scheme must be postgres://, postgresql:// or sqlite: (empty means SQLite in the data dir)`},
		{"database without scheme", nil, []string{"LIVEPLANE_DATABASE=./my.db"},
			`invalid --database "./my.db" (from LIVEPLANE_DATABASE): scheme must be postgres://`},
		{"postgres port", nil, []string{"LIVEPLANE_DATABASE=postgres://u:hunter2@h:70000/db"},
			`invalid --database "postgres://u:xxxxx@h:70000/db" (from LIVEPLANE_DATABASE): port out of range`},
		{"postgres unparseable", nil, []string{"LIVEPLANE_DATABASE=postgres://u:hunter2@h:x/db"},
			`invalid --database "postgres://u:xxxxx@h:x/db" (from LIVEPLANE_DATABASE): not a valid URL`},
		{"sqlite with host", []string{"--database", "sqlite://rel.db"}, nil,
			`invalid --database "sqlite://rel.db" (from command line): a sqlite URL has no host`},
		{"sqlite with options", []string{"--database", "sqlite:x.db?_pragma=foo"}, nil,
			`invalid --database "sqlite:x.db?_pragma=foo" (from command line): sqlite URL options are not supported`},
		{"sqlite empty", []string{"--database", "sqlite:"}, nil,
			`invalid --database "sqlite:" (from command line): sqlite URL has no file path`},
		{"nats scheme", nil, []string{"LIVEPLANE_NATS=http://u:hunter2@h:4222"},
			`invalid --nats "http://u:xxxxx@h:4222" (from LIVEPLANE_NATS): scheme must be nats:// or tls://`},
		{"nats list hole", []string{"--nats", "nats://a:4222,,nats://b:4222"}, nil,
			`invalid --nats "nats://a:4222,,nats://b:4222" (from command line): empty entry in the comma-separated list`},
		{"nats no host", []string{"--nats", "nats://"}, nil,
			`invalid --nats "nats://" (from command line): want nats://host:port or tls://host:port`},
		{"nats-listen with external nats", []string{"--nats", "nats://n:4222", "--nats-listen", "127.0.0.1:4222"}, nil,
			`invalid --nats-listen "127.0.0.1:4222" (from command line): only the embedded NATS server listens`},
		{"token required off loopback", nil, []string{"LIVEPLANE_NATS_LISTEN=:4222"},
			`invalid --nats-token "" (from default): required when --nats-listen ":4222" (from LIVEPLANE_NATS_LISTEN) is not a loopback address`},
		{"log level", []string{"--log-level", "verbose"}, nil,
			`invalid --log-level "verbose" (from command line): must be one of debug, info, warn, error`},
		{"log format", nil, []string{"LIVEPLANE_LOG_FORMAT=logfmt"},
			`invalid --log-format "logfmt" (from LIVEPLANE_LOG_FORMAT): must be one of text, json`},
		{"grace zero", []string{"--shutdown-grace", "0s"}, nil,
			`invalid --shutdown-grace "0s" (from command line): must be more than 0`},
		{"grace too long", nil, []string{"LIVEPLANE_SHUTDOWN_GRACE=10h"},
			`invalid --shutdown-grace "10h" (from LIVEPLANE_SHUTDOWN_GRACE): must be at most 5m`},
		{"grace not a duration", nil, []string{"LIVEPLANE_SHUTDOWN_GRACE=10"},
			`invalid --shutdown-grace "10" (from LIVEPLANE_SHUTDOWN_GRACE): not a duration`},
		{"udp port clash", []string{"--coaps", "0.0.0.0:5683"}, nil,
			`invalid --coaps "0.0.0.0:5683" (from command line): same UDP port as --coap ":5683" (from default)`},
		{"tcp port clash", []string{"--nats-listen", "127.0.0.1:8080"}, nil,
			`invalid --nats-listen "127.0.0.1:8080" (from command line): same TCP port as --http "127.0.0.1:8080" (from default)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadServe(tc.args, tc.env)
			assertErr(t, err, tc.want)
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("password in clear: %v", err)
			}
		})
	}
}

func TestServeValid(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		sqlitePath string
		natsStore  string
	}{
		{"postgres", []string{"--database", "postgres://u:p@db:5432/lp?sslmode=require"}, "", "data/nats"},
		{"postgresql multi-host", []string{"--database", "postgresql://u:p@h1:5432,h2:5432/lp"}, "", "data/nats"},
		{"sqlite absolute", []string{"--database", "sqlite:///var/lib/lp.db"}, "/var/lib/lp.db", "data/nats"},
		{"sqlite relative", []string{"--database", "sqlite:lp.db"}, "lp.db", "data/nats"},
		{"external nats cluster", []string{"--nats", "nats://u:p@a:4222, tls://b:4222,nats://tok@c"}, "data/liveplane.db", ""},
		{"loopback listener needs no token", []string{"--nats-listen", "127.0.0.1:4222"}, "data/liveplane.db", "data/nats"},
		{"localhost listener", []string{"--nats-listen", "localhost:4222"}, "data/liveplane.db", "data/nats"},
		{"open listener with token", []string{"--nats-listen", ":4222", "--nats-token", "t"}, "data/liveplane.db", "data/nats"},
		{"ports 0", []string{"--http", ":0", "--coap", ":0", "--coaps", ":0"}, "data/liveplane.db", "data/nats"},
		{"ipv6", []string{"--http", "[::1]:8080"}, "data/liveplane.db", "data/nats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := loadServe(tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.SQLitePath() != tc.sqlitePath || s.NATSStoreDir() != tc.natsStore {
				t.Errorf("SQLitePath %q NATSStoreDir %q, want %q %q", s.SQLitePath(), s.NATSStoreDir(), tc.sqlitePath, tc.natsStore)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	_, _, err := loadServe([]string{"--http", "x", "--log-level", "loud"}, []string{"LIVEPLANE_SHUTDOWN_GRACE=1s1"})
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 one-line problems, got %d:\n%v", len(lines), err)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "invalid --") || !strings.Contains(l, "(from ") {
			t.Errorf("line %q does not name the setting and its source", l)
		}
	}
}

func TestHandBuiltStructValidates(t *testing.T) {
	err := Serve{DataDir: "d", HTTP: ":1", CoAP: ":2", CoAPS: ":3", LogLevel: "info", LogFormat: "json", ConfigStuckAfter: 5, GCPercent: 100}.Validate()
	assertErr(t, err, `invalid --shutdown-grace "0s": must be more than 0`)
}

func TestDaemonValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"required", nil, nil, []string{
			`invalid --cluster "" (from default): required`,
			`invalid --nats "" (from default): required`}},
		{"dns label", []string{"--cluster", "EU_West"}, []string{"LIVEPLANE_NATS=nats://h:4222"}, []string{
			`invalid --cluster "EU_West" (from command line): must be a DNS label`}},
		{"nats", []string{"--cluster", "eu"}, []string{"LIVEPLANE_NATS=nats://tok3n@h:99999"}, []string{
			`invalid --nats "nats://xxxxx@h:99999" (from LIVEPLANE_NATS): port out of range`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadDaemon(newFlagSet("daemon"), tc.args, tc.env)
			assertErr(t, err, tc.want...)
		})
	}
}

func TestRelayAndClientValidation(t *testing.T) {
	_, _, err := LoadRelay(newFlagSet("relay"), []string{"--upstream", "ws://h", "--listen", ":70000"},
		[]string{"LIVEPLANE_ALLOWED_ORIGINS=https://ok.example,https://bad.example/path"})
	assertErr(t, err,
		`invalid --upstream "ws://h" (from command line): scheme must be http:// or https://`,
		`invalid --listen ":70000" (from command line): port out of range`,
		`invalid --allowed-origins "https://ok.example,https://bad.example/path" (from LIVEPLANE_ALLOWED_ORIGINS): entry "https://bad.example/path": an origin is scheme://host[:port] only`)

	fs := newFlagSet("devices list")
	load := RegisterClient(fs)
	if err := fs.Parse([]string{"--output", "yaml"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = load([]string{"LIVEPLANE_SERVER=127.0.0.1:8080"})
	assertErr(t, err,
		`invalid --output "yaml" (from command line): must be one of table, json`,
		`invalid --server "127.0.0.1:8080" (from LIVEPLANE_SERVER): want an absolute URL`)
}

// A field assigned after loading no longer claims the source it was loaded from.
func TestChangedFieldLosesSource(t *testing.T) {
	s, _, err := loadServe(nil, []string{"LIVEPLANE_HTTP=127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	s.HTTP = "nope"
	assertErr(t, s.Validate(), `invalid --http "nope": want host:port`)
	if !strings.Contains(s.String(), `http = "nope"  # unknown`) {
		t.Errorf("String():\n%s", s)
	}
}
