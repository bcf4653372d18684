package natsbus_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liveplane/liveplane/internal/driven/natsbus"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func startEmbedded(t *testing.T, o natsbus.EmbeddedOptions) *natsbus.Embedded {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	e, err := natsbus.StartEmbedded(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func TestEmbeddedInProcessKeepsDataAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	// The ready_in attribute of the "embedded nats-server ready" log line
	// shows the start time; it is reported, not asserted.
	e := startEmbedded(t, natsbus.EmbeddedOptions{StoreDir: dir})
	if got := e.ClientURL(); got != "" {
		t.Fatalf("ClientURL without Listen = %q, want none", got)
	}
	nc, err := e.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "liveplane.events.account.a1.created", []byte("x")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	e.Shutdown()

	e2 := startEmbedded(t, natsbus.EmbeddedOptions{StoreDir: dir})
	nc2, err := e2.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2)
	s, err := js2.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("events after restart = %d, want 1", n)
	}
}

func TestEmbeddedTCPRequiresToken(t *testing.T) {
	e := startEmbedded(t, natsbus.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Token: "s3cret"})
	url := e.ClientURL()
	if url == "" {
		t.Fatal("no ClientURL while listening")
	}
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("anonymous TCP client was accepted")
	}
	withToken := strings.Replace(url, "nats://", "nats://s3cret@", 1)
	nc, err := natsbus.Connect(t.Context(), withToken, "tcp-client", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	// In-process connections present the token too.
	inproc, err := e.Connect("inproc")
	if err != nil {
		t.Fatal(err)
	}
	inproc.Close()
}

func TestEmbeddedListenWithoutTokenFails(t *testing.T) {
	_, err := natsbus.StartEmbedded(t.Context(), natsbus.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "Token is required") {
		t.Fatalf("err = %v, want a missing-token error", err)
	}
}

func TestEmbeddedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	_, err = natsbus.StartEmbedded(t.Context(), natsbus.EmbeddedOptions{
		StoreDir: t.TempDir(), Listen: addr, Token: "t", Logger: testLogger(t),
	})
	if err == nil {
		t.Fatal("started on a port in use")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v, want it to name %s and say the address is in use", err, addr)
	}
}

func TestEmbeddedBadStoreDir(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	corrupt := t.TempDir()
	// nats-server keeps its files in <store>/jetstream; a file there is a
	// store it cannot open.
	if err := os.WriteFile(filepath.Join(corrupt, "jetstream"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"not a directory": notADir, "corrupt": corrupt} {
		t.Run(name, func(t *testing.T) {
			_, err := natsbus.StartEmbedded(context.Background(), natsbus.EmbeddedOptions{StoreDir: dir, Logger: testLogger(t)})
			if err == nil {
				t.Fatal("started on an unusable store")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("err = %v, want it to name %s", err, dir)
			}
		})
	}
}

func TestConnectUnreachableFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a port nobody listens on
	_, err = natsbus.Connect(t.Context(), "nats://user:pw@"+addr, "test", testLogger(t))
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "pw") {
		t.Fatalf("err = %v, want the address and no password", err)
	}
}

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	e := startEmbedded(t, natsbus.EmbeddedOptions{StoreDir: t.TempDir()})
	nc, err := e.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for range 2 {
		if err := natsbus.EnsureStreams(t.Context(), js); err != nil {
			t.Fatal(err)
		}
	}
	s, err := js.Stream(t.Context(), natsbus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Duplicates != natsbus.DuplicateWindow || cfg.Storage != jetstream.FileStorage || cfg.Subjects[0] != natsbus.EventsSubjects {
		t.Fatalf("events stream config = %+v", cfg)
	}
	if _, err := js.Stream(t.Context(), natsbus.DLQStream); err != nil {
		t.Fatal(err)
	}
}
