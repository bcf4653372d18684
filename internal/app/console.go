package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/liveplane/liveplane/internal/config"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/drivers/console"
)

// ConsoleKeyFile is the file, inside the data dir, holding the secret that
// seals console session cookies. Replicas that should share sessions need
// the same file.
const ConsoleKeyFile = "console.key"

// mountConsole serves the web console at "/" on mux; its API and stream
// calls go back through mux as bearer calls. shared spreads sign-outs and
// used relay tickets over the replicas.
func mountConsole(mux *http.ServeMux, cfg config.Serve, accounts *account.Service, devices console.Devices, stream http.Handler,
	shared console.Shared, log *slog.Logger) error {
	secret, err := consoleSecret(cfg.DataDir)
	if err != nil {
		return err
	}
	c, err := console.New(console.Options{
		Auth: accounts, Secret: secret, API: mux, Stream: stream, Logger: log,
		RelayURL: cfg.LiveLog.ConsoleRelayURL, RelayTokens: cfg.LiveLog.RelayTokens, Devices: devices, Shared: shared,
	})
	if err != nil {
		return err
	}
	c.Mount(mux)
	return nil
}

// consoleSecret reads DATA_DIR/console.key, creating it (32 random bytes,
// hex, mode 0600) on first start.
func consoleSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, ConsoleKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var k [32]byte
		_, _ = rand.Read(k[:])
		if err := writeSecret(path, hex.EncodeToString(k[:])+"\n"); err != nil {
			return nil, fmt.Errorf("console key: %w", err)
		}
		return k[:], nil
	}
	if err != nil {
		return nil, fmt.Errorf("console key: %w", err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < console.MinSecretLen {
		return nil, fmt.Errorf("console key %s: want at least %d bytes as hex (delete the file to make a new one; signed-in users sign in again)", path, console.MinSecretLen)
	}
	return k, nil
}
