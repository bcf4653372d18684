package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/liveplane/liveplane/internal/domain"
)

// ConsoleBucket holds what the console's replicas share: signed-out
// sessions ("signout.<sid>") and used relay tickets ("ticket.<id>"), each
// valued with its expiry (unix ms). Entries leave with the bucket's MaxAge,
// longer than any session.
const ConsoleBucket = "liveplane_console"

// consoleMaxAge outlives a console session (12 hours) and every ticket
// (30 seconds), with room for a session lifetime made longer one day.
const consoleMaxAge = 7 * 24 * time.Hour

// ConsoleShared is the console's Shared port on a JetStream key-value bucket: a ticket
// is used once in the deployment because only the first Create of its key
// succeeds, and every replica watches the sign-outs into memory.
type ConsoleShared struct {
	kv jetstream.KeyValue
	mu sync.Mutex
	// signedOut: session id -> expiry, from the watch and from this
	// replica's own sign-outs.
	signedOut map[string]time.Time
}

// EnsureConsoleShared creates the bucket or binds to it.
func EnsureConsoleShared(ctx context.Context, js jetstream.JetStream) (*ConsoleShared, error) {
	kv, err := js.KeyValue(ctx, ConsoleBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      ConsoleBucket,
			Description: "liveplane: console sign-outs and used relay tickets, shared by the replicas",
			History:     1,
			TTL:         consoleMaxAge,
			Storage:     jetstream.FileStorage,
			MaxBytes:    64 << 20,
			Replicas:    ReplicasFor(js.Conn()),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("console bucket: %w", err)
	}
	return &ConsoleShared{kv: kv, signedOut: map[string]time.Time{}}, nil
}

func (c *ConsoleShared) SignOut(ctx context.Context, sid string, until time.Time) error {
	c.remember(sid, until)
	if _, err := c.kv.Put(ctx, "signout."+sid, []byte(strconv.FormatInt(until.UnixMilli(), 10))); err != nil {
		return fmt.Errorf("console sign-out: %w", err)
	}
	return nil
}

func (c *ConsoleShared) SignedOut(sid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.signedOut[sid]
	return ok
}

// UseOnce fails with a domain error of code CodeConflict for an id used
// before.
func (c *ConsoleShared) UseOnce(ctx context.Context, id string, until time.Time) error {
	_, err := c.kv.Create(ctx, "ticket."+id, []byte(strconv.FormatInt(until.UnixMilli(), 10)))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return domain.Errorf(domain.CodeConflict, "console ticket", "already used")
	}
	if err != nil {
		return fmt.Errorf("console ticket: %w", err)
	}
	return nil
}

func (c *ConsoleShared) remember(sid string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.signedOut)%256 == 255 {
		for k, exp := range c.signedOut {
			if !now.Before(exp) {
				delete(c.signedOut, k)
			}
		}
	}
	if now.Before(until) {
		c.signedOut[sid] = until
	}
}

// Run watches the sign-outs of every replica until ctx ends, watching
// again when a watch breaks.
func (c *ConsoleShared) Run(ctx context.Context) error {
	watchKV(ctx, c.kv, "signout.*", func(e jetstream.KeyValueEntry) {
		if ms, err := strconv.ParseInt(string(e.Value()), 10, 64); err == nil {
			c.remember(strings.TrimPrefix(e.Key(), "signout."), time.UnixMilli(ms))
		}
	})
	return nil
}
