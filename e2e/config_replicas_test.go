package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// TestEnrolAcrossReplicas: two serve replicas on one PostgreSQL and NATS.
// The first uplink of an unknown device reaches both at once, several
// times each (libcoap clients racing): one device is created and every
// copy is answered with the same device key. A change made through one
// replica reaches the device in the reply to its next uplink through the
// other.
func TestEnrolAcrossReplicas(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	natsURL, _ := natstest.Start(t)
	args := []string{"--database", db, "--nats", natsURL}
	a := startServe(t, "", nil, args...)
	b := startServe(t, "", nil, args...)
	ctx := context.Background()
	acc, err := a.accounts(bearer(a.token)).CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{Name: "fleet"}))
	if err != nil {
		t.Fatal(err)
	}
	accID := acc.Msg.GetAccount().GetId()
	pk, err := liveplanev1connect.NewProvisioningKeyServiceClient(http.DefaultClient, a.url, bearer(a.token)).CreateProvisioningKey(ctx,
		connect.NewRequest(&lpv1.CreateProvisioningKeyRequest{AccountId: accID}))
	if err != nil {
		t.Fatal(err)
	}
	coapA, _ := a.coapAddrs(t)
	coapB, _ := b.coapAddrs(t)
	id := uuid.NewString()
	first := fmt.Sprintf("device_id: %q\nprovisioning_key: %q\nboot_count: 1\nuplink_count: 1\nconfig { key: \"MODE\" value: \"eco\" }\n",
		id, pk.Msg.GetSecret())
	bin := encodeUplink(t, first)
	var wg sync.WaitGroup
	replies := make([]string, 6)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := []string{coapA, coapB}[i%2]
			f := fmt.Sprintf("%s/reply-%d.bin", t.TempDir(), i)
			_, errs := coapClient(t, "coap-client-notls", "-m", "post", "-o", f, "-f", bin, "coap://"+addr+"/uplink")
			if strings.TrimSpace(errs) != "" {
				t.Errorf("copy %d: %s", i, errs)
			}
			b, _ := os.ReadFile(f)
			replies[i] = string(b)
		}()
	}
	wg.Wait()
	key := ""
	for i, r := range replies {
		m := deviceKeyField.FindStringSubmatch(decodeDownlink(t, r))
		if m == nil || key != "" && m[1] != key {
			t.Fatalf("copy %d: %q, first key %q", i, decodeDownlink(t, r), key)
		}
		key = m[1]
	}
	// b's own data dir holds no admin token (a created the one in the
	// shared database); a's token works on b.
	list, err := liveplanev1connect.NewDeviceServiceClient(http.DefaultClient, b.url, bearer(a.token)).ListDevices(ctx, connect.NewRequest(&lpv1.ListDevicesRequest{AccountId: accID}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.Msg.GetDevices()); n != 1 {
		t.Fatalf("%d devices after the race, want 1", n)
	}
	cfgA := liveplanev1connect.NewConfigServiceClient(http.DefaultClient, a.url, bearer(a.token))
	if _, err := cfgA.PatchConfig(ctx, connect.NewRequest(&lpv1.PatchConfigRequest{DeviceId: id, MergePatch: `{"MODE":"fast"}`})); err != nil {
		t.Fatal(err)
	}
	next := fmt.Sprintf("device_id: %q\ncredential: %q\nboot_count: 1\nuplink_count: 2\nconfig { key: \"MODE\" value: \"eco\" }\n", id, key)
	body, errs := post(t, "coap://"+coapB+"/uplink", next)
	if r := decodeDownlink(t, body); strings.TrimSpace(errs) != "" || !strings.Contains(r, `value: "fast"`) || !strings.Contains(r, "version: 2") {
		t.Fatalf("next uplink through the other replica: %q %s", r, errs)
	}
}
