package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func loadServe(args, env []string) (Serve, []string, error) {
	return LoadServe(newFlagSet("serve"), args, env)
}

// writeFile writes a config file with owner-only permissions and returns its path.
func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "liveplane.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeDefaults(t *testing.T) {
	s, warnings, err := loadServe(nil, nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("LoadServe() = %v, warnings %q", err, warnings)
	}
	want := Serve{DataDir: "./data", HTTP: "127.0.0.1:8080", CoAP: ":5683", CoAPS: ":5684",
		LogLevel: "info", LogFormat: "text", ShutdownGrace: 10 * time.Second, ConfigStuckAfter: 5, GCPercent: 400,
		Pickup: Pickup{Addr: "127.0.0.1:3100", Auth: "token", MaxMessageBytes: 1 << 20, MaxQueue: 100000,
			MaxQueueBytes: 1 << 30, TTL: 720 * time.Hour, AckTimeout: 30 * time.Second, TakeoverGrace: time.Second,
			PushWindow: 10 * time.Second, FCMEndpoint: "https://fcm.googleapis.com", APNsEndpoint: "https://api.push.apple.com"},
		LiveLog: LiveLog{WindowLines: 1000, WindowAge: 24 * time.Hour, MaxBytes: 256 << 20, Storage: "file", PingInterval: 30 * time.Second,
			MaxFlushDelay: 20 * time.Millisecond}}
	s.prov = provenance{}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", s, want)
	}
	if got, want := s.SQLitePath(), filepath.Join("data", "liveplane.db"); got != want {
		t.Errorf("SQLitePath() = %q, want %q", got, want)
	}
	if got, want := s.NATSStoreDir(), filepath.Join("data", "nats"); got != want {
		t.Errorf("NATSStoreDir() = %q, want %q", got, want)
	}
}

func TestOtherCommandDefaults(t *testing.T) {
	d, _, err := LoadDaemon(newFlagSet("daemon"), []string{"--cluster", "eu-1", "--nats", "nats://127.0.0.1:4222"}, nil)
	if err != nil || d.LogLevel != "info" || d.LogFormat != "text" || d.Kubeconfig != "" {
		t.Errorf("LoadDaemon() = %+v, %v", d, err)
	}
	r, _, err := LoadRelay(newFlagSet("relay"), nil, nil)
	if err != nil || r.Listen != "127.0.0.1:8090" || r.Upstream != "http://127.0.0.1:8080" || r.AllowedOrigins != nil {
		t.Errorf("LoadRelay() = %+v, %v", r, err)
	}
	fs := newFlagSet("accounts list")
	load := RegisterClient(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	c, _, err := load(nil)
	if err != nil || c.Server != "http://127.0.0.1:8080" || c.Token != "" || c.Output != "table" {
		t.Errorf("client = %+v, %v", c, err)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "http: 127.0.0.1:1001\nlog-level: warn\n")
	cfg := "LIVEPLANE_CONFIG=" + file
	env := "LIVEPLANE_HTTP=127.0.0.1:1002"
	flagArgs := []string{"--http", "127.0.0.1:1003"}
	for _, tc := range []struct {
		name      string
		args      []string
		env       []string
		want      string
		wantSrc   string
		wantLevel string
	}{
		{"default", nil, nil, "127.0.0.1:8080", "default", "info"},
		{"file over default", nil, []string{cfg}, "127.0.0.1:1001", "file", "warn"},
		{"env over file", nil, []string{cfg, env}, "127.0.0.1:1002", "env", "warn"},
		{"flag over env and file", flagArgs, []string{cfg, env}, "127.0.0.1:1003", "flag", "warn"},
		{"flag over default", flagArgs, nil, "127.0.0.1:1003", "flag", "info"},
		{"--config flag over LIVEPLANE_CONFIG", []string{"--config", file}, []string{"LIVEPLANE_CONFIG=/nonexistent"}, "127.0.0.1:1001", "file", "warn"},
		{"later env entry wins", nil, []string{"LIVEPLANE_HTTP=127.0.0.1:1", env}, "127.0.0.1:1002", "env", "info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := loadServe(tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if s.HTTP != tc.want {
				t.Errorf("HTTP = %q, want %q", s.HTTP, tc.want)
			}
			if line := `http = "` + tc.want + `"  # ` + tc.wantSrc; !strings.Contains(s.String(), line) {
				t.Errorf("String() lacks %q:\n%s", line, s)
			}
			// A setting no higher layer overrides keeps the file's value.
			if s.LogLevel != tc.wantLevel {
				t.Errorf("LogLevel = %q, want %q", s.LogLevel, tc.wantLevel)
			}
		})
	}
}

func TestFileTypes(t *testing.T) {
	file := writeFile(t, `# a comment
allowed-origins: [https://a.example, "https://b.example:8443"]
listen: 127.0.0.1:9000
service-token: &tok s3cr3t
log-level: debug
`)
	r, _, err := LoadRelay(newFlagSet("relay"), []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://a.example", "https://b.example:8443"}; !reflect.DeepEqual(r.AllowedOrigins, want) {
		t.Errorf("AllowedOrigins = %q, want %q", r.AllowedOrigins, want)
	}
	if r.ServiceToken != "s3cr3t" || r.LogLevel != "debug" || r.Listen != "127.0.0.1:9000" {
		t.Errorf("relay = %+v", r)
	}

	s, _, err := loadServe([]string{"--config", writeFile(t, "shutdown-grace: 1m30s\ndatabase:\n")}, nil)
	if err != nil || s.ShutdownGrace != 90*time.Second || s.Database != "" {
		t.Errorf("serve grace = %v, database %q, err %v", s.ShutdownGrace, s.Database, err)
	}

	// A comma-separated string is a list too, from the file, env and flags.
	r, _, err = LoadRelay(newFlagSet("relay"),
		[]string{"--allowed-origins", "https://c.example", "--allowed-origins", "https://d.example"},
		[]string{"LIVEPLANE_ALLOWED_ORIGINS=https://x.example"})
	if want := []string{"https://c.example", "https://d.example"}; err != nil || !reflect.DeepEqual(r.AllowedOrigins, want) {
		t.Errorf("repeated flag: AllowedOrigins = %q, %v; want %q", r.AllowedOrigins, err, want)
	}
	r, _, err = LoadRelay(newFlagSet("relay"), nil, []string{"LIVEPLANE_ALLOWED_ORIGINS=https://x.example, https://y.example"})
	if want := []string{"https://x.example", "https://y.example"}; err != nil || !reflect.DeepEqual(r.AllowedOrigins, want) {
		t.Errorf("env list: AllowedOrigins = %q, %v; want %q", r.AllowedOrigins, err, want)
	}

	// An empty file, or one of comments only, sets nothing.
	if _, _, err := loadServe([]string{"--config", writeFile(t, "# nothing\n")}, nil); err != nil {
		t.Errorf("comment-only file: %v", err)
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "http: :8080\ndatadir: /x\n", []string{`unknown key "datadir"`, ":2", `did you mean "data-dir"?`}},
		{"no suggestion", "colour: blue\n", []string{`unknown key "colour"`, ":1"}},
		{"other command's key", "cluster: eu\n", []string{`key "cluster"`, "daemon setting", "serve does not accept it"}},
		{"duplicate key", "http: :1\nhttp: :2\n", []string{`key "http" appears twice`, "lines 1 and 2"}},
		{"list for a scalar", "http: [a, b]\n", []string{"invalid --http", ":1", "not a list"}},
		{"mapping", "http: {a: b}\n", []string{"invalid --http", "not a mapping"}},
		{"bad duration", "shutdown-grace: 10\n", []string{`invalid --shutdown-grace "10"`, ":1", "not a duration"}},
		{"not a mapping", "- a\n- b\n", []string{`want "key: value" lines`}},
		{"bad yaml", "http: :8080\n  bad: [\n", []string{"is not valid YAML", "LIVEPLANE_CONFIG"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.body)
			_, _, err := loadServe(nil, []string{"LIVEPLANE_CONFIG=" + path})
			assertErr(t, err, append(tc.want, path)...)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, _, err := loadServe([]string{"--config", "/nonexistent/lp.yaml"}, nil)
		assertErr(t, err, "cannot read config file /nonexistent/lp.yaml (from command line): no such file or directory")
	})
}

// assertErr checks err has every wanted substring, and is one line per problem.
func assertErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestEnvWarnings(t *testing.T) {
	_, warnings, err := loadServe(nil, []string{
		"LIVEPLANE_TOKEN=for-the-cli",  // client setting: silent
		"LIVEPLANE_CLUSTER=eu",         // daemon setting: silent
		"LIVEPLANE_DATADIR=/x",         // typo
		"LIVEPLANE_WHATEVER=1",         // unknown
		"PATH=/usr/bin", "LIVEPLANE_X", // not ours; malformed
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"environment variable LIVEPLANE_DATADIR is not a liveplane setting; ignored (did you mean LIVEPLANE_DATA_DIR?)",
		"environment variable LIVEPLANE_WHATEVER is not a liveplane setting; ignored",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
	}
}

func TestSecretOnCommandLineWarns(t *testing.T) {
	_, warnings, err := loadServe([]string{"--nats-token", "t0k", "--database", "postgres://u:pw@h/db"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "LIVEPLANE_DATABASE") || !strings.Contains(warnings[1], "LIVEPLANE_NATS_TOKEN") {
		t.Errorf("warnings = %q", warnings)
	}
	_, warnings, _ = loadServe([]string{"--database", "postgres://u@h/db"}, nil)
	if len(warnings) != 0 {
		t.Errorf("a URL without a password is not a secret; warnings = %q", warnings)
	}
}

func TestWorldReadableSecretFileWarns(t *testing.T) {
	path := writeFile(t, "nats-token: abc\n")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, warnings, err := loadServe([]string{"--config", path}, nil)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "readable by all users") {
		t.Errorf("warnings = %q, err %v", warnings, err)
	}
}

func TestHelpShowsEnvAndDefaults(t *testing.T) {
	var out bytes.Buffer
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(&out)
	_, _, err := LoadServe(fs, []string{"-h"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"LIVEPLANE_DATA_DIR", "LIVEPLANE_HTTP", "LIVEPLANE_NATS_TOKEN", "LIVEPLANE_CONFIG",
		"(default ./data)", "(default 10s)", "-data-dir directory", "-config file"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestServeRejectsArguments(t *testing.T) {
	_, _, err := loadServe([]string{"--log-level", "debug", "extra"}, nil)
	assertErr(t, err, `serve takes no arguments, got "extra"`)
}

// TestClientBesideNounFlags is how a noun command uses RegisterClient: its own
// flags and positional arguments live on the same FlagSet.
func TestClientBesideNounFlags(t *testing.T) {
	fs := newFlagSet("accounts create")
	name := fs.String("name", "", "account name")
	load := RegisterClient(fs)
	if _, _, err := load(nil); err == nil {
		t.Error("loading before Parse should fail")
	}
	if err := fs.Parse([]string{"--name", "acme", "--output", "json", "extra"}); err != nil {
		t.Fatal(err)
	}
	c, _, err := load([]string{"LIVEPLANE_SERVER=https://lp.example", "LIVEPLANE_TOKEN=tok", "LIVEPLANE_DATA_DIR=/srv"})
	if err != nil {
		t.Fatal(err)
	}
	if *name != "acme" || fs.Arg(0) != "extra" || c.Output != "json" || c.Server != "https://lp.example" || c.Token != "tok" {
		t.Errorf("name %q args %q client %+v", *name, fs.Args(), c)
	}
	if strings.Contains(c.String(), "tok\"") {
		t.Errorf("token in clear:\n%s", c)
	}
}
