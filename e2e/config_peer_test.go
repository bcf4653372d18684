package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// decodeDownlink turns a reply body into protobuf text with protoc, a
// decoder independent of ours.
func decodeDownlink(t *testing.T, body string) string {
	t.Helper()
	protoc := needTool(t, "protoc")
	cmd := exec.Command(protoc, "-I../proto", "--decode=liveplane.v1.Downlink", "../proto/liveplane/v1/device.proto")
	cmd.Stdin = strings.NewReader(body)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("protoc --decode: %v: %s (body %q)", err, errb.String(), body)
	}
	return out.String()
}

// post sends one uplink with libcoap's client and returns the exact reply
// body (-o: stdout gets a trailing newline) and what it printed on stderr.
func post(t *testing.T, url, text string) (string, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "reply.bin")
	_, errs := coapClient(t, "coap-client-notls", "-m", "post", "-o", f, "-f", encodeUplink(t, text), url)
	b, _ := os.ReadFile(f)
	return string(b), errs
}

var deviceKeyField = regexp.MustCompile(`device_key: "(lpd_[A-Za-z0-9_-]+)"`)

// TestCoAPPeerEnrolAndConfig: a libcoap client enrols an unknown device
// with a provisioning key made by the CLI, the operator sets a value with
// the CLI, and the reply to the device's very next uplink carries the
// UpdateConfigCommand; the device's ack puts it in sync and stamps the
// history. A revoked key gets 4.01.
func TestCoAPPeerEnrolAndConfig(t *testing.T) {
	t.Parallel()
	s := startServe(t, "", nil)
	coapAddr, _ := s.coapAddrs(t)
	url := "coap://" + coapAddr + "/uplink"
	admin := []string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + s.token}
	acc, err := s.accounts(bearer(s.token)).CreateAccount(context.Background(), connect.NewRequest(&lpv1.CreateAccountRequest{Name: "fleet"}))
	if err != nil {
		t.Fatal(err)
	}
	accID := acc.Msg.GetAccount().GetId()
	if out, errOut, code := cli(t, admin, "config", "set", "--account", accID, "TZ=UTC", "INTERVAL=60"); code != 0 {
		t.Fatalf("config set --account (exit %d): %s%s", code, out, errOut)
	}
	secret, errOut, code := cli(t, admin, "provisioning-keys", "create", "--account", accID, "--description", "line 1", "--max-uses", "10", "--expires", "24h")
	secret = strings.TrimSpace(secret)
	if code != 0 || !strings.HasPrefix(secret, "lpp_") {
		t.Fatalf("provisioning-keys create (exit %d): %q %s", code, secret, errOut)
	}

	id := uuid.NewString()
	first := fmt.Sprintf(`device_id: %q
provisioning_key: %q
boot_count: 1
uplink_count: 1
config { key: "INTERVAL" value: "60" }
config { key: "MODE" value: "eco" }
config { key: "bad key" value: "x" }
firmware_version: "2.0.0"
hardware_version: "rev-d"
`, id, secret)
	body, errs := post(t, url, first)
	if strings.TrimSpace(errs) != "" {
		t.Fatalf("enrolment: stderr %q", errs)
	}
	reply := decodeDownlink(t, body)
	m := deviceKeyField.FindStringSubmatch(reply)
	if m == nil || !strings.Contains(reply, "psk:") || !strings.Contains(reply, `key: "TZ"`) {
		t.Fatalf("enrolment reply: %s (want the device key, the PSK, and the TZ default as a command)", reply)
	}
	key := m[1]
	// The retransmitted first uplink gets the same key; one device exists.
	body2, _ := post(t, url, first)
	if decodeDownlink(t, body2) != reply {
		t.Fatalf("retransmission got %s, want %s", decodeDownlink(t, body2), reply)
	}
	out, errOut, code := cli(t, admin, "config", "get", "--device", id)
	if code != 0 || !regexp.MustCompile(`MODE\s+eco\s+device\s+eco\s+true`).MatchString(out) ||
		!regexp.MustCompile(`INTERVAL\s+60\s+default\s+60\s+true`).MatchString(out) || !strings.Contains(out, "invalid report of \"bad key\"") {
		t.Fatalf("config get after enrolment (exit %d): %s%s", code, out, errOut)
	}

	uplink := func(n int, extra string) string {
		text := fmt.Sprintf("device_id: %q\ncredential: %q\nboot_count: 1\nuplink_count: %d\nconfig { key: \"TZ\" value: \"UTC\" }\n%s", id, key, n, extra)
		body, errs := post(t, url, text)
		if strings.TrimSpace(errs) != "" {
			t.Fatalf("uplink %d: stderr %q", n, errs)
		}
		if body == "" {
			return ""
		}
		return decodeDownlink(t, body)
	}
	if r := uplink(2, `config_ack { applied_version: 2 results { key: "TZ" status: CONFIG_KEY_STATUS_APPLIED } }`); r != "" {
		t.Fatalf("in sync, got %s", r)
	}
	// The operator changes a value (with the version it saw); the very next
	// uplink's reply carries only that key and the new version.
	if out, errOut, code := cli(t, admin, "config", "set", "--device", id, "--expected-version", "1", "INTERVAL=30"); code != 0 || !strings.Contains(out, "pending") {
		t.Fatalf("config set (exit %d): %s%s", code, out, errOut)
	}
	if _, _, code := cli(t, admin, "config", "set", "--device", id, "--expected-version", "1", "INTERVAL=10"); code != 5 {
		t.Fatalf("stale config set: exit %d, want 5", code)
	}
	if _, errOut, code := cli(t, admin, "config", "set", "--device", id, "bad key!=1"); code != 2 || !strings.Contains(errOut, `"bad key!"`) {
		t.Fatalf("invalid key: exit %d, %s (want 2 and the key named)", code, errOut)
	}
	if _, errOut, code := cli(t, admin, "config", "set", "--device", id, "--patch", `{"A":{"nested":"x"}}`); code != 2 || !strings.Contains(errOut, "value of A") {
		t.Fatalf("nested value: exit %d, %s", code, errOut)
	}
	r := uplink(3, `config { key: "INTERVAL" value: "60" }`)
	if !strings.Contains(r, "version: 3") || !strings.Contains(r, `key: "INTERVAL"`) || !strings.Contains(r, `value: "30"`) || strings.Contains(r, "MODE") {
		t.Fatalf("reply to the next uplink: %q, want update_config v3 with INTERVAL=30 only", r)
	}
	if r := uplink(4, `config { key: "INTERVAL" value: "30" } config_ack { applied_version: 3 results { key: "INTERVAL" status: CONFIG_KEY_STATUS_APPLIED } }`); r != "" {
		t.Fatalf("after the ack, got %s", r)
	}
	out, _, _ = cli(t, admin, "config", "get", "--device", id)
	if !strings.Contains(out, ": in_sync; version 2 (defaults 1, effective 3), acked 3") {
		t.Fatalf("config get after the ack: %s", out)
	}
	out, _, _ = cli(t, admin, "config", "history", "--device", id)
	if !regexp.MustCompile(`admin\s+INTERVAL\s+-\s+"30"\s+3\s+20`).MatchString(out) || !strings.Contains(out, "enrolment") {
		t.Fatalf("history: %s", out)
	}

	// Revoked: 4.01, nothing created.
	list, _, _ := cli(t, admin, "provisioning-keys", "list", "--account", accID, "--output", "json")
	// protojson varies its spacing on purpose.
	keyID := regexp.MustCompile(`"id":\s*"([0-9a-f-]{36})"`).FindStringSubmatch(list)
	if keyID == nil || !regexp.MustCompile(`"uses":\s*1\b`).MatchString(list) {
		t.Fatalf("provisioning-keys list: %s", list)
	}
	if _, errOut, code := cli(t, admin, "provisioning-keys", "revoke", keyID[1]); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	other := strings.Replace(first, id, uuid.NewString(), 1)
	if _, errs := post(t, url, other); !strings.Contains(errs, "4.01") {
		t.Fatalf("revoked key: stderr %q, want 4.01", errs)
	}
}
