package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

var coapLine = regexp.MustCompile(`msg="liveplane serving" .*coap=(\S+) coaps=(\S+)`)

// coapAddrs returns the UDP addresses serve logged for CoAP and CoAPS.
func (s *server) coapAddrs(t *testing.T) (string, string) {
	t.Helper()
	m := coapLine.FindStringSubmatch(s.log())
	if m == nil {
		t.Fatalf("no coap addresses in the serving line:\n%s", s.log())
	}
	return m[1], m[2]
}

func (s *server) devices() liveplanev1connect.DeviceServiceClient {
	return liveplanev1connect.NewDeviceServiceClient(http.DefaultClient, s.url, bearer(s.token))
}

// newDevice creates an account and a device in it over the RPC API.
func (s *server) newDevice(t *testing.T) *lpv1.CreateDeviceResponse {
	t.Helper()
	ctx := context.Background()
	acc, err := s.accounts(bearer(s.token)).CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{
		Name: fmt.Sprintf("fleet-%d", time.Now().UnixNano()%1e9)}))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := s.devices().CreateDevice(ctx, connect.NewRequest(&lpv1.CreateDeviceRequest{
		AccountId: acc.Msg.GetAccount().GetId(), Name: "meter"}))
	if err != nil {
		t.Fatal(err)
	}
	return dev.Msg
}

// exchangeUplink sends body as a confirmable POST /uplink with message ID mid
// from conn, again every 2 s as a device does, at most tries times, and
// returns the answer.
func exchangeUplink(conn *net.UDPConn, to *net.UDPAddr, mid int32, body []byte, tries int) (message.Message, error) {
	m := message.Message{Type: message.Confirmable, Code: codes.POST, MessageID: mid, Token: []byte{byte(mid), byte(mid >> 8)}, Payload: body}
	m.Options, _, _ = m.Options.SetPath(make([]byte, 64), "/uplink")
	out := make([]byte, 2048)
	k, err := coder.DefaultCoder.Encode(m, out)
	if err != nil {
		return message.Message{}, err
	}
	in := make([]byte, 2048)
	for range tries {
		if _, err := conn.WriteToUDP(out[:k], to); err != nil {
			return message.Message{}, err
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			r, err := conn.Read(in)
			if err != nil {
				break // timed out: send again
			}
			resp := message.Message{Options: make(message.Options, 0, 8)}
			if _, err := coder.DefaultCoder.Decode(in[:r], &resp); err == nil && resp.MessageID == mid {
				return resp, nil
			}
		}
	}
	return message.Message{}, fmt.Errorf("no answer to message %d after %d tries", mid, tries)
}

// activity returns every activity record of a device.
func (s *server) activity(t *testing.T, deviceID string) ([]*lpv1.ActivityRecord, error) {
	t.Helper()
	res, err := s.devices().ListActivity(context.Background(), connect.NewRequest(&lpv1.ListActivityRequest{
		DeviceId: deviceID, PageSize: 1000}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetRecords(), nil
}

func (s *server) sensorCount(t *testing.T, deviceID string) int {
	t.Helper()
	res, err := s.devices().ListSensorData(context.Background(), connect.NewRequest(&lpv1.ListSensorDataRequest{
		DeviceId: deviceID, PageSize: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Msg.GetReadings())
}

// needTool skips (or, under the test command, fails) without a peer tool.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("LIVEPLANE_REQUIRE_POSTGRES") == "1" { // set by scripts/test, which installs the tools
			t.Fatalf("%s not installed: scripts/test installs libcoap3-bin and protobuf-compiler", name)
		}
		t.Skipf("SKIPPED: %s not installed (apt-get install libcoap3-bin protobuf-compiler)", name)
	}
	return p
}

// encodeUplink writes an uplink encoded by protoc from the committed schema,
// text format in, binary out: an encoder independent of ours.
func encodeUplink(t *testing.T, text string) string {
	t.Helper()
	protoc := needTool(t, "protoc")
	cmd := exec.Command(protoc, "-I../proto", "--encode=liveplane.v1.Uplink", "../proto/liveplane/v1/device.proto")
	cmd.Stdin = strings.NewReader(text)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("protoc --encode: %v: %s", err, errb.String())
	}
	f := filepath.Join(t.TempDir(), "uplink.bin")
	if err := os.WriteFile(f, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func uplinkText(dev *lpv1.CreateDeviceResponse, boot, n int, withKey bool) string {
	key := ""
	if withKey {
		key = fmt.Sprintf("credential: %q\n", dev.GetKey())
	}
	return fmt.Sprintf(`device_id: %q
%sboot_count: %d
uplink_count: %d
reboot_reason: REBOOT_REASON_WATCHDOG
config { key: "INTERVAL" value: "60" }
config { key: "MODE" value: "eco" }
activity { sleep_seconds: 3540 modem_seconds: 42 gnss_seconds: 9 wifi_seconds: 3 other_seconds: 6 }
temperatures_centi_celsius: 2150
temperatures_centi_celsius: -375
wifi_scans { bssid: "\x01\x02\x03\x04\x05\x06" rssi_dbm: -67 }
firmware_version: "1.4.2"
hardware_version: "rev-c"
device_time_unix_ms: 1763900000000
`, dev.GetDevice().GetId(), key, boot, n)
}

// coapClient runs one of libcoap's clients; it returns what it printed on
// stderr (where the response code goes) and stdout (the response body).
func coapClient(t *testing.T, tool string, args ...string) (stdout, stderr string) {
	t.Helper()
	bin := needTool(t, tool)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return out.String(), errb.String()
}
