package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"
	"google.golang.org/protobuf/proto"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// dedicatedPostgres runs a PostgreSQL of this test's own (scripts/postgres
// with its own port and directory), so stopping it disturbs nobody else.
type dedicatedPostgres struct {
	env []string
	url string
}

func startDedicatedPostgres(t *testing.T) *dedicatedPostgres {
	t.Helper()
	if os.Getenv("LIVEPLANE_TEST_POSTGRES") == "" {
		if os.Getenv("LIVEPLANE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("LIVEPLANE_TEST_POSTGRES is not set: run through scripts/test")
		}
		t.Skip("SKIPPED: the database-outage test needs PostgreSQL (scripts/test)")
	}
	dir, err := os.MkdirTemp("", "lp-outage-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777) // the server runs as the postgres user
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &dedicatedPostgres{env: append(os.Environ(), "LIVEPLANE_PG_PORT="+strconv.Itoa(port), "LIVEPLANE_PG_DIR="+filepath.Join(dir, "pg"))}
	p.url = strings.TrimSpace(p.run(t, "start"))
	t.Cleanup(func() { p.run(t, "stop"); os.RemoveAll(dir) })
	return p
}

func (p *dedicatedPostgres) run(t *testing.T, verb string) string {
	t.Helper()
	cmd := exec.Command("../scripts/postgres", verb)
	cmd.Env = p.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/postgres %s: %v", verb, err)
	}
	return string(out)
}

// TestCoAPDatabaseOutageLosesNothing keeps sending uplinks while PostgreSQL
// is stopped and started again: every uplink is acknowledged, and once the
// database is back every one of them is stored exactly once.
func TestCoAPDatabaseOutageLosesNothing(t *testing.T) {
	t.Parallel()
	pg := startDedicatedPostgres(t)
	s := startServe(t, "", nil, "--database", pg.url)
	coapAddr, _ := s.coapAddrs(t)
	dev := s.newDevice(t)
	id := dev.GetDevice().GetId()
	to, err := net.ResolveUDPAddr("udp", coapAddr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	const total = 300
	send := func(n int) {
		body, _ := proto.Marshal(&lpv1.Uplink{DeviceId: id, Credential: dev.GetKey(), BootCount: 1, UplinkCount: uint32(n),
			TemperaturesCentiCelsius: []int32{int32(n)}, Config: map[string]string{"N": strconv.Itoa(n)}})
		resp, err := exchangeUplink(conn, to, int32(n), body, 10)
		if err != nil {
			t.Fatalf("uplink %d: %v", n, err)
		}
		if resp.Code != codes.Changed {
			t.Fatalf("uplink %d answered %v (%s)", n, resp.Code, resp.Payload)
		}
	}
	for n := 1; n <= total; n++ {
		switch n {
		case 100:
			pg.run(t, "stop")
		case 200:
			pg.run(t, "start")
		}
		send(n)
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(60 * time.Second)
	var recs []*lpv1.ActivityRecord
	for time.Now().Before(deadline) {
		if recs, err = s.activity(t, id); err == nil && len(recs) >= total {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(recs) != total {
		t.Fatalf("%d of %d uplinks stored after the outage (last error %v)\n%s", len(recs), total, err, s.log())
	}
	if n := s.sensorCount(t, id); n != total {
		t.Fatalf("%d sensor rows, want %d", n, total)
	}
	if !strings.Contains(s.log(), "spooling uplinks") {
		t.Fatalf("the outage did not reach the spool (test proves nothing):\n%s", s.log())
	}
}
