// Command fakeserver stands in for "liveplane serve" in the bench tests: it
// accepts the same flags, writes admin.token, answers /readyz and stops on
// SIGTERM. Flags after the standard ones make it misbehave on purpose.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeserver:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		return fmt.Errorf("usage: fakeserver serve --data-dir DIR --http ADDR --coap ADDR --coaps ADDR")
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "")
	httpAddr := fs.String("http", "", "")
	fs.String("coap", "", "")
	fs.String("coaps", "", "")
	fs.String("pickup", "", "")
	fail := fs.String("fail", "", "exit at once with this message on stderr")
	if err := fs.Parse(os.Args[2:]); err != nil {
		return err
	}
	if *fail != "" {
		return fmt.Errorf("%s", *fail)
	}
	if err := os.WriteFile(filepath.Join(*dataDir, "admin.token"), []byte("fake-admin-token\n"), 0o600); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: *httpAddr, Handler: mux}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Shutdown(context.Background())
	}
}
