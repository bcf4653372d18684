package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/liveplane/liveplane/internal/livelogclient"
)

// runLogs is `liveplane logs follow`: a device's live log, resumed across
// drops, lines on stdout and notices (reconnecting, gap) on stderr.
func runLogs(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "follow" {
		return usagef("usage: liveplane logs follow --device ID [--since N] [--server URL] [--token T] [-output json]")
	}
	c := newClientCommand("logs follow", e)
	dev := c.fs.String("device", "", "device id (required)")
	since := c.fs.Int("since", 0, "first print the device's last `N` retained lines (0 to 1000)")
	backoffMin := c.fs.Duration("reconnect-min", 100*time.Millisecond, "first reconnect delay ceiling (exponential backoff, full jitter)")
	backoffMax := c.fs.Duration("reconnect-max", 10*time.Second, "largest reconnect delay")
	api, err := c.parse(e, args[1:])
	if err != nil {
		return err
	}
	if *dev == "" {
		return usagef("--device is required")
	}
	if *since < 0 || *since > 1000 {
		return usagef("--since: want 0 to 1000 lines")
	}
	cl, err := livelogclient.New(livelogclient.Options{URL: api.cfg.Server, DeviceID: *dev, Token: api.cfg.Token,
		Last: *since, Backoff: livelogclient.Backoff{Base: *backoffMin, Max: *backoffMax}})
	if err != nil {
		return usagef("%v", err)
	}
	asJSON := api.cfg.Output == "json"
	err = cl.Run(ctx, func(ev livelogclient.Event) error {
		switch ev.Kind {
		case livelogclient.KindLine:
			if asJSON {
				_, err := fmt.Fprintf(e.stdout, "%s\n", ev.Line.Raw)
				return err
			}
			_, err := fmt.Fprintln(e.stdout, formatLine(ev.Line))
			return err
		case livelogclient.KindReconnecting:
			fmt.Fprintf(e.stderr, "liveplane: reconnecting (attempt %d, in %v): %v\n", ev.Attempt, ev.Delay.Round(time.Millisecond), ev.Err)
		case livelogclient.KindGap:
			fmt.Fprintf(e.stderr, "liveplane: gap: %s\n", describeGap(ev.Gap))
		case livelogclient.KindLive:
			if p, _ := cl.Position(); ev.Hello != nil && p.Seq > 0 {
				fmt.Fprintf(e.stderr, "liveplane: live (epoch %s, after seq %d)\n", ev.Hello.Epoch, ev.Hello.LastSeq)
			}
		case livelogclient.KindControl:
			fmt.Fprintf(e.stderr, "liveplane: relay: %s\n", ev.Control.Type)
		}
		return nil
	})
	return streamError(err)
}

func formatLine(l *livelogclient.Line) string {
	var b strings.Builder
	b.WriteString(l.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b.WriteString("  ")
	b.WriteString(l.Type)
	b.WriteString("  ")
	b.WriteString(l.Message)
	if len(l.Data) > 0 && string(l.Data) != "null" {
		b.WriteString("  ")
		b.Write(l.Data)
	}
	return b.String()
}

func describeGap(g *livelogclient.Gap) string {
	switch g.Reason {
	case livelogclient.ReasonEpoch:
		return fmt.Sprintf("the server's stream was recreated (epoch %s -> %s): lines after seq %d may be missing", g.PrevEpoch, g.Epoch, g.FromSeq)
	case livelogclient.ReasonWindow:
		if g.Span.BeforeSeq == 0 {
			return fmt.Sprintf("lines after seq %d left the server's window", g.Span.AfterSeq)
		}
		return fmt.Sprintf("lines between seq %d and %d left the server's window", g.Span.AfterSeq, g.Span.BeforeSeq)
	case livelogclient.ReasonOrder:
		return fmt.Sprintf("continuity broken between seq %d and %d (a server bug; please report)", g.Span.AfterSeq, g.Span.BeforeSeq)
	}
	return fmt.Sprintf("%s after seq %d", g.Reason, g.FromSeq)
}

// streamError gives a refused stream the CLI's exit codes.
func streamError(err error) error {
	var he *livelogclient.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	code := connect.CodeUnknown
	switch he.Status {
	case http.StatusBadRequest:
		code = connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		code = connect.CodeUnauthenticated
	case http.StatusForbidden:
		code = connect.CodePermissionDenied
	case http.StatusNotFound:
		code = connect.CodeNotFound
	}
	return connect.NewError(code, errors.New(he.Body))
}
