package relay

import (
	"context"
	"time"
)

// Credential is what a browser presented. Exactly one field is set.
type Credential struct {
	// Bearer is an account API key (Authorization header or the
	// `bearer.` WebSocket subprotocol).
	Bearer string
	// Ticket is a console relay ticket (the `ticket.` subprotocol): sealed
	// by serve's console for one device, one connection and 30 s, readable
	// only by serve, which the Authorizer asks.
	Ticket string
}

// Authorizer decides whether a browser may watch a device.
//
// Authorize returns nil when cred may read deviceID's logs, otherwise a
// *domain.Error: CodeUnauthenticated (bad, revoked or expired credential,
// a used ticket),
// CodeNotFound (no such device, or not visible to this account),
// CodePermissionDenied, or CodeUnavailable (cannot ask now). It must
// return within ctx.
type Authorizer interface {
	Authorize(ctx context.Context, cred Credential, deviceID string) error
}

// Start is where an upstream begins: the live tail, the last N lines, or a
// resume position.
type Start struct {
	Last  int
	Epoch string // with Seq: resume
	Seq   uint64
}

// Upstream opens device streams on serve.
//
// Follow streams deviceID from start until ctx ends (then it returns nil)
// or the stream cannot go on (a permanent refusal: the device was deleted,
// the service token was revoked), calling fn for each event, in order, on
// one goroutine. It reconnects by itself and resumes from the last seq, so
// fn sees every line once, in order, or a gap event saying what is missing.
type Upstream interface {
	Follow(ctx context.Context, deviceID string, start Start, fn func(UpstreamEvent)) error
}

// UpstreamKind says what an UpstreamEvent reports.
type UpstreamKind int

const (
	UpLive         UpstreamKind = iota + 1 // Epoch, LastSeq, Recovered, Reason, AfterSeq, BeforeSeq: a hello
	UpLine                                 // Seq, Prev, Epoch, Raw: the line as serve encoded it
	UpGap                                  // Reason, Epoch, AfterSeq, BeforeSeq: lines may be missing
	UpReconnecting                         // Attempt, Delay, Err: the upstream dropped
)

// UpstreamEvent is one event of a device's upstream.
type UpstreamEvent struct {
	Kind      UpstreamKind
	Epoch     string
	Seq, Prev uint64
	Raw       []byte
	LastSeq   uint64
	Recovered bool
	Reason    string
	AfterSeq  uint64
	BeforeSeq uint64
	Attempt   int
	Delay     time.Duration
	Err       error
}
