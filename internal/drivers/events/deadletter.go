package events

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers on a dead-lettered message: where it came from and why it failed,
// so it can be inspected and replayed. The body is the original, unchanged.
const (
	HeaderSubject   = "Liveplane-Dlq-Subject"    // the original subject
	HeaderStream    = "Liveplane-Dlq-Stream"     // the stream it was consumed from
	HeaderStreamSeq = "Liveplane-Dlq-Stream-Seq" // its sequence there
	HeaderConsumer  = "Liveplane-Dlq-Consumer"   // the durable that gave up
	HeaderError     = "Liveplane-Dlq-Error"      // the last error, one line, truncated
	HeaderAttempts  = "Liveplane-Dlq-Attempts"   // deliveries, including the last
	HeaderMsgID     = "Liveplane-Dlq-Msg-Id"     // the original Nats-Msg-Id (the event ID)
)

const maxErrorHeader = 1024

// deadLetter publishes the message to the dead-letter subject, then
// terminates it. The Nats-Msg-Id is derived from the stream position, so a
// second attempt (after a lost ack or a failed Term) is stored once. If the
// publish fails the message is not terminated: it comes back later and the
// dead-letter is tried again, so nothing is dropped.
func (d *dispatcher) deadLetter(msg jetstream.Msg, md *jetstream.MsgMetadata, log *slog.Logger, cause error) {
	hdr := nats.Header{}
	for k, v := range msg.Headers() {
		// Nats-* headers steer JetStream (dedupe, expectations); copied
		// onto a new publish they would be obeyed again.
		if !strings.HasPrefix(k, "Nats-") {
			hdr[k] = v
		}
	}
	hdr.Set(HeaderSubject, msg.Subject())
	hdr.Set(HeaderStream, md.Stream)
	hdr.Set(HeaderStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	hdr.Set(HeaderConsumer, md.Consumer)
	hdr.Set(HeaderError, headerSafe(cause.Error()))
	hdr.Set(HeaderAttempts, strconv.FormatUint(md.NumDelivered, 10))
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		hdr.Set(HeaderMsgID, id)
	}
	dlqID := fmt.Sprintf("dlq.%s.%s.%d", md.Stream, md.Consumer, md.Sequence.Stream)

	ctx, cancel := context.WithTimeout(context.Background(), verdictTimeout)
	defer cancel()
	ack, err := d.js.PublishMsg(ctx, &nats.Msg{Subject: d.c.DeadLetterSubject, Data: msg.Data(), Header: hdr}, jetstream.WithMsgID(dlqID))
	if err != nil {
		delay := d.c.Backoff[len(d.c.Backoff)-1]
		log.Error("dead-letter publish failed; will retry on redelivery", "cause", cause, "err", err, "retry_in", delay)
		_ = msg.NakWithDelay(delay)
		return
	}
	if !ack.Duplicate {
		d.m.deadLettered.Inc()
		log.Error("event dead-lettered", "err", cause, "dlq_subject", d.c.DeadLetterSubject)
	}
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		// The copy is safe in the DLQ; the redelivery will find it there.
		log.Warn("term after dead-letter failed", "err", err)
	}
}

// headerSafe makes an error text fit a header: one line, bounded, valid UTF-8.
func headerSafe(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorHeader {
		s = strings.ToValidUTF8(s[:maxErrorHeader], "") + "..."
	}
	return s
}
