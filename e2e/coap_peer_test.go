package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestCoAPPeerUplink sends uplinks encoded by protoc with libcoap's client,
// an implementation independent of ours, and checks answers and rows.
func TestCoAPPeerUplink(t *testing.T) {
	t.Parallel()
	s := startServe(t, "", nil)
	coapAddr, _ := s.coapAddrs(t)
	dev := s.newDevice(t)
	url := "coap://" + coapAddr + "/uplink"

	out, errs := coapClient(t, "coap-client-notls", "-m", "post", "-f", encodeUplink(t, uplinkText(dev, 1, 1, true)), url)
	if strings.TrimSpace(errs) != "" || out != "" {
		t.Fatalf("good uplink: stderr %q stdout %q, want a silent 2.04 with an empty body", errs, out)
	}
	recs, err := s.activity(t, dev.GetDevice().GetId())
	if err != nil || len(recs) != 1 || recs[0].GetActivity().GetSleepSeconds() != 3540 || recs[0].GetBootCount() != 1 {
		t.Fatalf("activity after one uplink: %v %v", recs, err)
	}
	if n := s.sensorCount(t, dev.GetDevice().GetId()); n != 3 {
		t.Fatalf("%d sensor rows, want 3 (two temperatures, one scan)", n)
	}

	// The CLI reads the same rows back: CSV and JSON.
	admin := []string{"LIVEPLANE_SERVER=" + s.url, "LIVEPLANE_TOKEN=" + s.token}
	id := dev.GetDevice().GetId()
	csvOut, errOut, code := cli(t, admin, "telemetry", "--device", id, "--kind", "sensors", "--since", "1h", "--csv")
	if code != 0 || !strings.HasPrefix(csvOut, "RECEIVED,BOOT,UPLINK,INDEX,KIND,VALUE,BSSID\n") ||
		!strings.Contains(csvOut, ",1,1,0,temperature_c,21.50,\n") || !strings.Contains(csvOut, ",wifi_rssi_dbm,-67,01:02:03:04:05:06") {
		t.Fatalf("telemetry --csv (exit %d): %s%s", code, csvOut, errOut)
	}
	jsonOut, errOut, code := cli(t, admin, "devices", "show", id, "--output", "json")
	// protojson varies its spacing on purpose (per binary): match loosely.
	if code != 0 || !regexp.MustCompile(`"INTERVAL":\s*"60"`).MatchString(jsonOut) ||
		!regexp.MustCompile(`"firmwareVersion":\s*"1.4.2"`).MatchString(jsonOut) {
		t.Fatalf("devices show (exit %d): %s%s", code, jsonOut, errOut)
	}
	if _, _, code := cli(t, admin, "telemetry", "--device", id, "--since", "yesterday"); code != 2 {
		t.Fatalf("telemetry with a bad --since: exit %d, want 2 (usage)", code)
	}

	// Bad input: each answer on stderr, nothing stored.
	big := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(big, make([]byte, 1500), 0o600)
	garbage := filepath.Join(t.TempDir(), "garbage.bin")
	os.WriteFile(garbage, []byte("\x0a\xff\xff\xff"), 0o600)
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"no credential", "4.01", []string{"-m", "post", "-f", encodeUplink(t, uplinkText(dev, 1, 2, false)), url}},
		{"malformed", "4.00", []string{"-m", "post", "-f", garbage, url}},
		{"oversize", "4.13", []string{"-m", "post", "-f", big, url}},
		{"wrong method", "4.05", []string{"-m", "get", url}},
		{"wrong path", "4.04", []string{"-m", "post", "-f", garbage, "coap://" + coapAddr + "/nope"}},
	} {
		if _, errs := coapClient(t, "coap-client-notls", tc.args...); !strings.Contains(errs, tc.want) {
			t.Errorf("%s: stderr %q, want %s", tc.name, errs, tc.want)
		}
	}
	if recs, _ := s.activity(t, dev.GetDevice().GetId()); len(recs) != 1 {
		t.Fatalf("%d activity rows after bad input, want still 1", len(recs))
	}
}

// TestCoAPPeerLossStoresEachUplinkOnce drops 30% of the client's datagrams,
// so CON retransmissions happen, and sends every uplink twice from fresh
// source ports (a device that never saw the ack resends after a NAT
// rebinding): still exactly one row set per uplink.
func TestCoAPPeerLossStoresEachUplinkOnce(t *testing.T) {
	t.Parallel()
	s := startServe(t, "", nil)
	coapAddr, _ := s.coapAddrs(t)
	dev := s.newDevice(t)
	const uplinks = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[int]int{}
	for n := 1; n <= uplinks; n++ {
		file := encodeUplink(t, uplinkText(dev, 4, n, true))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for copy := 0; copy < 2; copy++ {
				for try := 0; try < 5; try++ { // a device retries until it hears back
					_, errs := coapClient(t, "coap-client-notls", "-l", "30%", "-m", "post", "-f", file, "coap://"+coapAddr+"/uplink")
					if strings.TrimSpace(errs) == "" {
						mu.Lock()
						acked[n]++
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	for n := 1; n <= uplinks; n++ {
		if acked[n] == 0 {
			t.Errorf("uplink %d never acknowledged through 30%% loss in 5 tries", n)
		}
	}
	recs, err := s.activity(t, dev.GetDevice().GetId())
	if err != nil || len(recs) != uplinks {
		t.Fatalf("%d activity rows, %v; want exactly %d", len(recs), err, uplinks)
	}
	seen := map[uint32]bool{}
	for _, r := range recs {
		if seen[r.GetUplinkCount()] {
			t.Fatalf("uplink %d stored twice", r.GetUplinkCount())
		}
		seen[r.GetUplinkCount()] = true
	}
	if n := s.sensorCount(t, dev.GetDevice().GetId()); n != 3*uplinks {
		t.Fatalf("%d sensor rows, want %d", n, 3*uplinks)
	}
}

// TestCoAPPeerDTLSPSK speaks DTLS-PSK with libcoap over OpenSSL: identity =
// device id, key = the PSK shown at creation; no credential in the body.
func TestCoAPPeerDTLSPSK(t *testing.T) {
	t.Parallel()
	s := startServe(t, "", nil)
	_, coapsAddr := s.coapAddrs(t)
	dev := s.newDevice(t)
	id := dev.GetDevice().GetId()
	file := encodeUplink(t, uplinkText(dev, 2, 1, false))
	url := "coaps://" + coapsAddr + "/uplink"
	out, errs := coapClient(t, "coap-client-openssl", "-m", "post", "-k", dev.GetPsk(), "-u", id, "-f", file, url)
	if strings.TrimSpace(errs) != "" || out != "" {
		t.Fatalf("DTLS uplink: stderr %q stdout %q", errs, out)
	}
	coapClient(t, "coap-client-openssl", "-m", "post", "-k", "not-the-psk", "-u", id, "-f", encodeUplink(t, uplinkText(dev, 2, 2, false)), url)
	recs, err := s.activity(t, id)
	if err != nil || len(recs) != 1 || recs[0].GetBootCount() != 2 {
		t.Fatalf("activity %v %v: want only the uplink with the right PSK", recs, err)
	}
}
