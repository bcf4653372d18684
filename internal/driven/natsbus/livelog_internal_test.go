package natsbus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liveplane/liveplane/internal/domain/livelog"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

// flakyJS runs first instead of the first publish and answers it with a
// timeout: the stream's answer did not come in time.
type flakyJS struct {
	jetstream.JetStream
	mu    sync.Mutex
	calls int
	first func(ctx context.Context, msg *nats.Msg)
}

func (f *flakyJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n == 1 {
		f.first(ctx, msg)
		return nil, context.DeadlineExceeded
	}
	return f.JetStream.PublishMsg(ctx, msg, opts...)
}

// A publish that timed out is sent again; whether its first copy landed or
// not, and whether another publisher's line came before or after it, the
// line is stored exactly once and store answers with its seq.
func TestLiveLogRetryStoresALineOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(t *testing.T, real jetstream.JetStream, other *LiveLog, ctx context.Context, msg *nats.Msg)
		want  []string // the subject's lines in order
	}{
		{"landed, answer lost", func(t *testing.T, real jetstream.JetStream, _ *LiveLog, ctx context.Context, msg *nats.Msg) {
			if _, err := real.PublishMsg(ctx, msg); err != nil {
				t.Error(err)
			}
		}, []string{"ours"}},
		{"lost before the stream", func(*testing.T, jetstream.JetStream, *LiveLog, context.Context, *nats.Msg) {}, []string{"ours"}},
		{"landed, then another line", func(t *testing.T, real jetstream.JetStream, other *LiveLog, ctx context.Context, msg *nats.Msg) {
			if _, err := real.PublishMsg(ctx, msg); err != nil {
				t.Error(err)
			}
			if _, err := other.store("d", []byte("other"), 0, false); err != nil {
				t.Error(err)
			}
		}, []string{"ours", "other"}},
		{"another line first, ours lost", func(t *testing.T, _ jetstream.JetStream, other *LiveLog, _ context.Context, _ *nats.Msg) {
			if _, err := other.store("d", []byte("other"), 0, false); err != nil {
				t.Error(err)
			}
		}, []string{"other", "ours"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := natstest.Start(t)
			_, js := natstest.Connect(t, url)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := EnsureLiveLogStream(ctx, js, LiveLogWindow{Lines: 50, Age: time.Hour, MaxBytes: 8 << 20}); err != nil {
				t.Fatal(err)
			}
			other, err := NewLiveLog(js, LiveLogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			flaky := &flakyJS{JetStream: js}
			flaky.first = func(ctx context.Context, msg *nats.Msg) { tc.first(t, js, other, ctx, msg) }
			l, err := NewLiveLog(flaky, LiveLogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()

			seq, err := l.store("d", []byte("ours"), 0, false)
			if err != nil {
				t.Fatal(err)
			}
			if n := testutil.ToFloat64(l.retried); n != 1 {
				t.Errorf("retries counted: %v, want 1", n)
			}
			s, err := js.Stream(ctx, LiveLogStream)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var oursAt uint64
			for next := uint64(1); ; {
				m, err := s.GetMsg(ctx, next, jetstream.WithGetMsgSubject(LiveLogSubjectPrefix+"d"))
				if err != nil {
					break
				}
				got = append(got, string(m.Data))
				if string(m.Data) == "ours" {
					oursAt = m.Sequence
				}
				next = m.Sequence + 1
			}
			if len(got) != len(tc.want) {
				t.Fatalf("stored %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("stored %q, want %q", got, tc.want)
				}
			}
			if seq != oursAt {
				t.Fatalf("store answered seq %d, the line is at %d", seq, oursAt)
			}
		})
	}
}

// Near its byte cap the window is trimmed in one purge of its oldest lines,
// down to about trimLow of the cap; the newest lines and their chain stay.
func TestLiveWindowTrimsInBulk(t *testing.T) {
	if _, ok := trimCut(80, 1, 100, 100); ok {
		t.Fatal("trimmed below trimHigh")
	}
	if cut, ok := trimCut(90, 1, 100, 100); !ok || cut != 23 { // drop (90-70)/90 of 100 seqs
		t.Fatalf("cut %d %v, want 23", cut, ok)
	}
	ctx, js, w := cappedWindow(t, 10*time.Second)
	last := fillPast(ctx, t, js, w, 10, windowCap*9/10)
	trimNow := func() error {
		info, err := w.stream.Info(ctx)
		if err != nil {
			return err
		}
		return trim(ctx, w.stream, info)
	}
	if err := trimNow(); err != nil {
		t.Fatal(err)
	}
	info, err := w.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := info.State
	if st.Bytes > windowCap*3/4 || st.Bytes < windowCap*6/10 || st.LastSeq != last || st.FirstSeq < 2 {
		t.Fatalf("after the trim: %d bytes of a %d cap, seqs %d..%d (last published %d)", st.Bytes, windowCap, st.FirstSeq, st.LastSeq, last)
	}
	if err := trimNow(); err != nil { // below trimHigh now: nothing more goes
		t.Fatal(err)
	}
	if again, _ := w.stream.Info(ctx); again.State.FirstSeq != st.FirstSeq {
		t.Fatalf("a second trim moved the first seq %d -> %d", st.FirstSeq, again.State.FirstSeq)
	}
}

// Follow trims the window it follows: published past trimHigh of its cap,
// the stream is cut back within a few stream checks.
func TestLiveWindowFollowTrims(t *testing.T) {
	ctx, js, w := cappedWindow(t, 20*time.Second)
	go w.Follow(ctx, func(livelog.Entry) {})
	fillPast(ctx, t, js, w, 1, windowCap*9/10)
	deadline := time.Now().Add(3 * streamCheckEvery)
	for {
		info, err := w.stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Bytes <= windowCap*3/4 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d bytes of a %d cap after three stream checks", info.State.Bytes, windowCap)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// windowCap is the byte cap of cappedWindow's stream.
const windowCap = 1 << 20

// cappedWindow is a window of windowCap bytes (and room for 10,000 lines per
// device) on a NATS server of its own, with a context ending after timeout.
func cappedWindow(t *testing.T, timeout time.Duration) (context.Context, jetstream.JetStream, *LiveWindow) {
	t.Helper()
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	w, err := NewLiveWindow(ctx, js, LiveLogWindow{Lines: 10000, Age: time.Hour, MaxBytes: windowCap}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, js, w
}

// fillPast publishes 1,000-byte lines to devices d0..d(devices-1) in turn
// until w's stream holds more than bytes; it returns the last line's seq.
func fillPast(ctx context.Context, t *testing.T, js jetstream.JetStream, w *LiveWindow, devices int, bytes uint64) uint64 {
	t.Helper()
	body := make([]byte, 1000)
	for i := 0; ; i++ {
		ack, err := js.Publish(ctx, LiveLogSubjectPrefix+fmt.Sprint("d", i%devices), body)
		if err != nil {
			t.Fatal(err)
		}
		info, err := w.stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Bytes > bytes {
			return ack.Sequence
		}
	}
}
