package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/liveplane/liveplane/internal/config"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// apiClient is what a CLI noun needs: the RPC clients and where to print.
type apiClient struct {
	accounts liveplanev1connect.AccountServiceClient
	devices  liveplanev1connect.DeviceServiceClient
	clusters liveplanev1connect.ClusterServiceClient
	cfg      config.Client
	out      io.Writer
	// For clients of further services.
	http *http.Client
	base string
	auth connect.ClientOption
}

// clientCommand parses a noun's flags (its own plus --server, --token,
// --output) and connects.
type clientCommand struct {
	fs      *flag.FlagSet
	resolve func(env []string) (config.Client, []string, error)
}

func newClientCommand(name string, e *env) *clientCommand {
	fs := flag.NewFlagSet("liveplane "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return &clientCommand{fs: fs, resolve: config.RegisterClient(fs)}
}

func (c *clientCommand) parse(e *env, args []string) (*apiClient, error) {
	if err := parseInterspersed(c.fs, args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	cfg, warnings, err := c.resolve(e.vars)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "liveplane: warning: %s\n", w)
	}
	if cfg.Token == "" {
		return nil, usagef("no token: set LIVEPLANE_TOKEN or --token (the admin token is in DATA_DIR/admin.token)")
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	base := strings.TrimRight(cfg.Server, "/")
	auth := connect.WithInterceptors(bearer(cfg.Token))
	return &apiClient{
		accounts: liveplanev1connect.NewAccountServiceClient(hc, base, auth),
		devices:  liveplanev1connect.NewDeviceServiceClient(hc, base, auth),
		clusters: liveplanev1connect.NewClusterServiceClient(hc, base, auth),
		cfg:      cfg, out: e.stdout,
		http: hc, base: base, auth: auth,
	}, nil
}

// bearer adds the Authorization header to every call.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// print writes msg as JSON (--output json) or as a table of the given
// columns, one row per element of rows.
type protoMessage = proto.Message

func (c *apiClient) print(msg proto.Message, header []string, rows [][]string) error {
	if c.cfg.Output == "json" {
		b, err := protojson.MarshalOptions{EmitUnpopulated: false}.Marshal(msg)
		if err != nil {
			return err
		}
		// protojson varies its whitespace on purpose (so nobody depends on
		// it); scripts that read this output do, so re-indent it stably.
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.out, out.String())
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// parseInterspersed accepts flags after positional arguments too
// (`accounts update ID --display-name X`), as users of most CLIs expect; "--"
// still ends flag parsing.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

func needArgs(fs *flag.FlagSet, n int, what string) error {
	if fs.NArg() != n {
		return usagef("expected %s, got %d argument(s)", what, fs.NArg())
	}
	return nil
}
