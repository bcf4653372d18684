package coap_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"google.golang.org/protobuf/proto"

	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/drivers/coap"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

func dialDTLS(t *testing.T, addr, identity, psk string) (*piondtls.Config, error) {
	return &piondtls.Config{
		PSK:             func([]byte) ([]byte, error) { return []byte(psk), nil },
		PSKIdentityHint: []byte(identity),
		CipherSuites:    []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_CCM_8},
	}, nil
}

func TestUplinkOverDTLSPSK(t *testing.T) {
	e := newEnv(t, coap.Options{})
	l, err := coap.ListenDTLS("127.0.0.1:0", e.devices)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.server.ServeDTLS(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	addr := l.Addr().String()

	// No credential in the body: the handshake authenticated the device.
	body, _ := proto.Marshal(&lpv1.Uplink{DeviceId: e.dev.Device.ID, BootCount: 3, UplinkCount: 1})
	cfg, _ := dialDTLS(t, addr, e.dev.Device.ID, e.dev.PSK)
	conn, err := dtls.Dial(addr, cfg)
	if err != nil {
		t.Fatalf("handshake with the device's PSK: %v", err)
	}
	defer conn.Close()
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	resp, err := conn.Post(rctx, "/uplink", message.AppOctets, bytes.NewReader(body))
	if err != nil || resp.Code() != codes.Changed {
		t.Fatalf("post: %v %v", resp, err)
	}
	// The body must name the device of the PSK identity.
	other, _ := proto.Marshal(&lpv1.Uplink{DeviceId: "01a20850-e5c8-7d52-85a3-773192e86155", UplinkCount: 1})
	if resp, err := conn.Post(rctx, "/uplink", message.AppOctets, bytes.NewReader(other)); err != nil || resp.Code() != codes.Unauthorized {
		t.Fatalf("uplink for another device over this session: %v %v", resp, err)
	}
	recs, _, _ := e.devices.Activity(admin, e.dev.Device.ID, device.Range{})
	if len(recs) != 1 || recs[0].BootCount != 3 {
		t.Fatalf("stored %+v", recs)
	}
	// A wrong PSK fails the handshake. pion's handshake does not honour the
	// request context (it can wait on its own lock for ever once the server
	// drops the flight), so the attempt is bounded here: a handshake that has
	// not completed after 5 s is a refusal, and closing the conn releases it.
	bad, _ := dialDTLS(t, addr, e.dev.Device.ID, "not-the-psk")
	c, err := dtls.Dial(addr, bad)
	if err != nil {
		return
	}
	defer c.Close()
	res := make(chan error, 1)
	go func() {
		hctx, hcancel := context.WithTimeout(ctx, 3*time.Second)
		defer hcancel()
		_, err := c.Post(hctx, "/uplink", message.AppOctets, bytes.NewReader(body))
		res <- err
	}()
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("an uplink went through with a wrong PSK")
		}
	case <-time.After(5 * time.Second):
		c.Close()
	}
}
