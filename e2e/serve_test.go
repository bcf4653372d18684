package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// `liveplane serve` with no flag at all: ./data in the working directory,
// HTTP on 127.0.0.1:8080, admin token written 0600 and printed once.
func TestServeWithNoFlags(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		t.Fatalf("this test needs 127.0.0.1:8080 free (the default): %v", err)
	} else {
		ln.Close()
	}
	dir := t.TempDir()
	cmd := exec.Command(binary, "serve")
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	stderr, _ := cmd.StderrPipe()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var readyAfter time.Duration
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get("http://127.0.0.1:8080/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				readyAfter = time.Since(start)
				break
			}
		}
	}
	if readyAfter == 0 {
		cmd.Process.Kill()
		t.Fatal("/readyz never answered 200")
	}
	t.Logf("ready %s after exec (figure for information; measured properly by the startup benchmark)", readyAfter)
	fi, err := os.Stat(filepath.Join(dir, "data", "admin.token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v, want mode 0600", fi, err)
	}
	token, _ := os.ReadFile(filepath.Join(dir, "data", "admin.token"))
	cmd.Process.Signal(os.Interrupt)
	out, _ := io.ReadAll(stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGINT:\n%s", err, out)
	}
	if n := strings.Count(string(out), strings.TrimSpace(string(token))); n != 1 {
		t.Fatalf("admin token printed %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(string(out), "stopped") {
		t.Fatalf("no orderly stop in the log:\n%s", out)
	}
}

// The same handler answers gRPC, gRPC-Web and Connect/JSON.
func TestRPCProtocols(t *testing.T) {
	s := startServe(t, "", nil)
	for name, opt := range map[string]connect.ClientOption{
		"grpc": connect.WithGRPC(), "grpcweb": connect.WithGRPCWeb(), "connect-json": connect.WithProtoJSON(),
	} {
		t.Run(name, func(t *testing.T) {
			c := s.accounts(opt, bearer(s.token))
			res, err := c.CreateAccount(context.Background(), connect.NewRequest(&lpv1.CreateAccountRequest{Name: "p-" + name}))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetAccount(context.Background(), connect.NewRequest(&lpv1.GetAccountRequest{Id: res.Msg.GetAccount().GetId()}))
			if err != nil || got.Msg.GetAccount().GetState() != lpv1.AccountState_ACCOUNT_STATE_PROVISIONING {
				t.Fatalf("get after create: %v %v", got, err)
			}
			_, err = s.accounts(opt).ListAccounts(context.Background(), connect.NewRequest(&lpv1.ListAccountsRequest{}))
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("no token: %v, want unauthenticated", err)
			}
		})
	}
	// Plain JSON over HTTP, as curl would send it.
	req, _ := http.NewRequest("POST", s.url+"/liveplane.v1.AccountService/ListAccounts", strings.NewReader(`{"pageSize":2}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"nextPageToken"`) {
		t.Fatalf("curl-style JSON: %d %s", resp.StatusCode, body)
	}
}

func TestOperationsEndpoints(t *testing.T) {
	s := startServe(t, "", nil)
	for path, want := range map[string]string{
		"/healthz": "ok", "/readyz": `"store":"ok"`, "/metrics": "liveplane_store_commits_total",
	} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, body lacks %q:\n%.300s", path, resp.StatusCode, want, b)
		}
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0\n%s", code, s.log())
	}
}

// Each bad start gives one clear line naming the setting and a non-zero
// exit code.
func TestBadStartsFailClearly(t *testing.T) {
	busy := startServe(t, "", nil)
	busyAddr := strings.TrimPrefix(busy.url, "http://")
	corrupt := t.TempDir()
	if err := os.WriteFile(filepath.Join(corrupt, "liveplane.db"), []byte(strings.Repeat("garbage ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad port", []string{"--http", "127.0.0.1:99999"}, nil, `invalid --http "127.0.0.1:99999"`},
		{"bad env value", nil, []string{"LIVEPLANE_LOG_LEVEL=loud"}, "LIVEPLANE_LOG_LEVEL"},
		{"port in use", []string{"--data-dir", t.TempDir(), "--http", busyAddr}, nil, "--http " + busyAddr + ": address already in use"},
		{"data dir in use", []string{"--data-dir", busy.dataDir, "--http", "127.0.0.1:0"}, nil, "in use by another liveplane process"},
		{"unreachable database", []string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0"},
			[]string{"LIVEPLANE_DATABASE=postgres://u:hunter2@127.0.0.1:1/db"}, "--database: postgres 127.0.0.1:1: cannot connect"},
		{"unreachable nats", []string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--nats", "nats://127.0.0.1:1"}, nil, "--nats"},
		{"corrupt database", []string{"--data-dir", corrupt, "--http", "127.0.0.1:0"}, nil, "file is not a database"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined: -nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := cli(t, c.env, append([]string{"serve"}, c.args...)...)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr lacks %q:\n%s", code, c.want, stderr)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Fatalf("password in the error:\n%s", stderr)
			}
		})
	}
}
