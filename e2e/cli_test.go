package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// The CLI over the real server: lifecycle, tenant isolation, revocation,
// and one-line errors with their exit codes.
func TestCLIAccountsAndKeys(t *testing.T) {
	s := startServe(t, "", nil)
	admin := []string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + s.token}

	create := func(name string) (id, secret string) {
		out, _, code := cli(t, admin, "accounts", "create", "--name", name, "--with-key", "--output", "json")
		if code != 0 {
			t.Fatalf("create %s: exit %d", name, code)
		}
		var res struct {
			Account      struct{ ID string }
			APIKeySecret string `json:"apiKeySecret"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Account.ID == "" || res.APIKeySecret == "" {
			t.Fatalf("create output %q: %v", out, err)
		}
		return res.Account.ID, res.APIKeySecret
	}
	acme, acmeKey := create("acme")
	globex, _ := create("globex")

	out, _, code := cli(t, admin, "accounts", "list")
	if code != 0 || !strings.Contains(out, "acme") || !strings.Contains(out, "globex") || !strings.Contains(out, "PROVISIONING") {
		t.Fatalf("admin list (exit %d):\n%s", code, out)
	}

	key := []string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + acmeKey}
	out, _, code = cli(t, key, "accounts", "list")
	if code != 0 || !strings.Contains(out, "acme") || strings.Contains(out, "globex") {
		t.Fatalf("an account key must list only its account (exit %d):\n%s", code, out)
	}
	cases := []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{key, []string{"accounts", "get", globex}, 4, "not_found"},
		{key, []string{"accounts", "create", "--name", "sneaky"}, 3, "permission_denied"},
		{key, []string{"accounts", "delete", acme}, 3, "permission_denied"},
		{admin, []string{"accounts", "create", "--name", "acme"}, 5, "already_exists"},
		{admin, []string{"accounts", "create", "--name", "Not_A_Label"}, 2, "invalid_argument: name"},
		{admin, []string{"accounts", "update", acme, "--display-name", "A", "--expected-generation", "7"}, 5, "aborted"},
		{[]string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=lpk_forged"}, []string{"accounts", "list"}, 3, "unauthenticated"},
		{[]string{"LIVEPLANE_SERVER=http://127.0.0.1:1", "LIVEPLANE_TOKEN=x"}, []string{"accounts", "list"}, 69, "unavailable"},
		{admin, []string{"accounts", "frobnicate"}, 2, "usage"},
	}
	for _, c := range cases {
		_, stderr, code := cli(t, c.env, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d, one line containing %q", c.args, code, stderr, c.code, c.want)
		}
	}

	// A second key; revoke the first; the first stops working at once.
	newKey, _, code := cli(t, admin, "apikeys", "create", "--account", acme, "--description", "rotation")
	if code != 0 || !strings.HasPrefix(newKey, "lpk_") {
		t.Fatalf("apikeys create: exit %d %q", code, newKey)
	}
	out, _, _ = cli(t, admin, "apikeys", "list", "--account", acme, "--output", "json")
	var keys struct {
		Keys []struct{ ID, Description string }
	}
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys.Keys) != 2 {
		t.Fatalf("apikeys list: %v %s", err, out)
	}
	for _, k := range keys.Keys {
		if k.Description != "rotation" {
			if _, _, code := cli(t, admin, "apikeys", "revoke", k.ID); code != 0 {
				t.Fatalf("revoke exit %d", code)
			}
		}
	}
	if _, stderr, code := cli(t, key, "accounts", "get", acme); code != 3 {
		t.Fatalf("revoked key: exit %d %s, want 3", code, stderr)
	}
	newEnv := []string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + strings.TrimSpace(newKey)}
	if _, stderr, code := cli(t, newEnv, "accounts", "get", acme); code != 0 {
		t.Fatalf("new key: exit %d %s", code, stderr)
	}
	// Deleting the account revokes its keys.
	if _, stderr, code := cli(t, admin, "accounts", "delete", acme); code != 0 {
		t.Fatalf("delete: %d %s", code, stderr)
	}
	if _, _, code := cli(t, newEnv, "accounts", "get", acme); code != 3 {
		t.Fatalf("key of a deleted account: exit %d, want 3", code)
	}

	// accounts list leaves DELETED accounts out (DELETING ones stay, their
	// deletion is under way); --include-deleted shows the tombstones.
	listed := func(flags ...string) map[string]string {
		t.Helper()
		out, stderr, code := cli(t, admin, append([]string{"accounts", "list", "--page-size", "1", "--output", "json"}, flags...)...)
		var res struct {
			Accounts []struct{ Name, State string }
		}
		if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
			t.Fatalf("accounts list %v: exit %d, %v %q %s", flags, code, err, out, stderr)
		}
		by := map[string]string{}
		for _, a := range res.Accounts {
			by[a.Name] = a.State
		}
		return by
	}
	if got := listed(); got["acme"] != "ACCOUNT_STATE_DELETING" || got["globex"] == "" {
		t.Fatalf("list while acme is DELETING: %v", got)
	}
	// No cluster is registered, so the finaliser's sweep (5 s) finalises it.
	waitFor(t, 20*time.Second, "acme DELETED", func() bool {
		return getAccount(t, s, acme).GetState() == lpv1.AccountState_ACCOUNT_STATE_DELETED
	})
	if got := listed(); len(got) != 1 || got["globex"] == "" {
		t.Fatalf("default list after finalisation: %v, want globex only", got)
	}
	if got := listed("--include-deleted"); len(got) != 2 || got["acme"] != "ACCOUNT_STATE_DELETED" || got["globex"] == "" {
		t.Fatalf("list --include-deleted: %v, want acme DELETED and globex", got)
	}
}
