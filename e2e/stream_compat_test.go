package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// The independent Python client of test/compat/livelog against the real
// binary, after three real CoAP uplinks.
func TestStreamCompatPythonWebsockets(t *testing.T) {
	err := exec.Command("/usr/bin/python3", "-c", "import websockets").Run()
	requireTool(t, "Debian python3-websockets", err == nil)
	needTool(t, "coap-client-notls")
	needTool(t, "protoc")
	s := startServe(t, "", nil)
	key, dev := streamAccount(t, s, "stream-compat")
	_, other := streamAccount(t, s, "stream-compat-other")
	id := dev.GetDevice().GetId()
	c := dialStream(t, s, key, "deviceId="+id)
	for n := 1; n <= 3; n++ {
		uplink(t, s, dev, n)
		c.next()
	}
	run(t, "../test/compat/livelog", []string{
		"LIVEPLANE_WS_ADDR=" + strings.TrimPrefix(s.url, "http://"), "LIVEPLANE_TOKEN=" + key,
		"LIVEPLANE_DEVICE=" + id, "LIVEPLANE_OTHER_DEVICE=" + other.GetDevice().GetId(),
	}, "/usr/bin/python3", "-m", "unittest", "-v", "stream_test.py")
}
