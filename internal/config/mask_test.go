package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"postgres://user:hunter2@host/db", "postgres://user:xxxxx@host/db"},
		{"postgresql://user:hunter2@host:5432/db?sslmode=require", "postgresql://user:xxxxx@host:5432/db?sslmode=require"},
		{"postgres://user@host/db", "postgres://user@host/db"}, // a role name is not a secret
		{"postgres://user:p%40ss@h1:5432,h2:5432/db", "postgres://user:xxxxx@h1:5432,h2:5432/db"},
		{"postgres://user:p@ss/w@host/db", "postgres://user:xxxxx@host/db"}, // unescaped '@' and '/' in the password
		{"postgres://host/db?user=u&password=hunter2&sslmode=disable", "postgres://host/db?user=u&password=xxxxx&sslmode=disable"},
		{"host=h user=u password=hunter2 dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password='hunter 2' dbname=d", "host=h password=xxxxx dbname=d"},
		{"nats://user:hunter2@n1:4222", "nats://user:xxxxx@n1:4222"},
		{"nats://s3cr3ttoken@n1:4222", "nats://xxxxx@n1:4222"},
		{"tls://s3cr3ttoken@n1:4222", "tls://xxxxx@n1:4222"},
		{"nats://a:1,nats://u:hunter2@b:2,tls://tok@c:3", "nats://a:1,nats://u:xxxxx@b:2,tls://xxxxx@c:3"},
		{"nats://u:hunter2@a:1, nats://v:other@b:2", "nats://u:xxxxx@a:1, nats://v:xxxxx@b:2"},
		{"//u:hunter2@h/x", "//u:xxxxx@h/x"},
		{"sqlite:///var/lib/lp.db", "sqlite:///var/lib/lp.db"},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"https://example.com/a@b", "https://xxxxx@b"}, // ambiguous: masks more, not less
		{"not a url", "not a url"},
	} {
		if got := MaskURL(tc.in); got != tc.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzMaskURL checks MaskURL never panics and never shows a password that
// url.Parse finds. Rather than searching the output for the password (which
// fails by coincidence: password "x" is in "xxxxx"), it checks the output does
// not depend on the password at all: the same URL with another password must
// mask to the same string.
func FuzzMaskURL(f *testing.F) {
	for _, s := range []string{
		"postgres://user:hunter2@host/db", "nats://u:p@a:1,tls://tok@b:2", "nats://tok@h",
		"postgres://u:p@h1,h2/db?password=x", "//u:p@h", "sqlite:x.db", "http://u:p@ss@h/a@b", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := MaskURL(in)
		u, err := url.Parse(in)
		if err != nil || u.User == nil {
			return
		}
		pw, ok := u.User.Password()
		if !ok || pw == "" || strings.Count(in, pw) != 1 {
			return // the password is not a unique literal span of the input
		}
		other := "pw"
		if pw == other {
			other = "qq"
		}
		in2 := strings.Replace(in, pw, other, 1)
		u2, err := url.Parse(in2)
		if err != nil || u2.User == nil {
			return
		}
		if pw2, _ := u2.User.Password(); pw2 != other {
			return
		}
		u2.User = u.User
		if u2.String() != u.String() {
			return // the replacement changed more than the password
		}
		if out2 := MaskURL(in2); out != out2 {
			t.Fatalf("MaskURL depends on the password %q:\n%q -> %q\n%q -> %q", pw, in, out, in2, out2)
		}
		if len(pw) >= 6 && !strings.Contains(pw, "x") && strings.Contains(out, pw) {
			t.Fatalf("MaskURL(%q) = %q shows the password %q", in, out, pw)
		}
	})
}

// secretServe loads a serve configuration whose every secret holds a marker.
func secretServe(t *testing.T) Serve {
	t.Helper()
	s, _, err := loadServe([]string{"--nats", "nats://natsuser:NATSPASS@n:4222,nats://NATSTOKEN@m:4222"}, []string{
		"LIVEPLANE_DATABASE=postgres://pguser:PGPASS@db/lp?password=PGPARAM",
		"LIVEPLANE_NATS_TOKEN=LISTENTOKEN",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var secretMarkers = []string{"NATSPASS", "NATSTOKEN", "PGPASS", "PGPARAM", "LISTENTOKEN"}

func TestStringMasksSecrets(t *testing.T) {
	s := secretServe(t)
	out := s.String()
	for _, m := range secretMarkers {
		if strings.Contains(out, m) {
			t.Errorf("String() shows %s:\n%s", m, out)
		}
	}
	for _, line := range []string{
		`database = "postgres://pguser:xxxxx@db/lp?password=xxxxx"  # env`,
		`nats = "nats://natsuser:xxxxx@n:4222,nats://xxxxx@m:4222"  # flag`,
		`nats-token = "xxxxx"  # env`,
		`data-dir = "./data"  # default`,
		`shutdown-grace = "10s"  # default`,
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("String() lacks %q:\n%s", line, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(s.settings()) {
		t.Errorf("String() has %d lines, want one per setting (%d)", n, len(s.settings()))
	}
	// Unset secrets print empty, not masked: "is it set?" is a useful answer.
	if plain, _, _ := loadServe(nil, nil); !strings.Contains(plain.String(), `nats-token = ""  # default`) {
		t.Errorf("unset token:\n%s", plain)
	}
}

func TestFileIsNamedInString(t *testing.T) {
	path := writeFile(t, "log-level: debug\n")
	s, _, err := loadServe(nil, []string{"LIVEPLANE_CONFIG=" + path})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# config file " + path + " (from LIVEPLANE_CONFIG)\n", `log-level = "debug"  # file`} {
		if !strings.Contains(s.String(), want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	s := secretServe(t)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", "config", s)
	for _, m := range secretMarkers {
		if strings.Contains(buf.String(), m) {
			t.Errorf("log shows %s:\n%s", m, buf.String())
		}
	}
	var rec struct {
		Config map[string]string `json:"config"`
	}
	line, _, _ := strings.Cut(buf.String(), "\n")
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Config["http"] != "127.0.0.1:8080" {
		t.Errorf("JSON log = %s (%v)", line, err)
	}
}

func TestSecretsMaskedInErrors(t *testing.T) {
	_, _, err := loadServe([]string{"--database", "postgres://u:PGPASS@h:99999/db", "--nats", "ftp://NATSTOKEN@h"}, nil)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, m := range secretMarkers {
		if strings.Contains(err.Error(), m) {
			t.Errorf("error shows %s: %v", m, err)
		}
	}
}
