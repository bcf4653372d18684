package bench

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waiter sleeps the dispatcher until the next intended send time.
//
// Go's timers are no good for this on Linux: the netpoller sleeps in whole
// milliseconds, so a 20µs sleep takes ~1ms and every request at a few
// thousand ops/s would be issued (and counted) up to a millisecond late. A
// non-blocking timerfd fires with microsecond precision and is read through
// the netpoller, so the goroutine parks and the workers keep the CPU.
type waiter struct {
	f   *os.File // nil when timerfd is unavailable; then Go timers are used
	fd  int      // f's descriptor; f.Fd() would switch it to blocking mode
	buf [8]byte
}

func newWaiter() *waiter {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &waiter{}
	}
	return &waiter{f: os.NewFile(uintptr(fd), "bench-timerfd"), fd: fd}
}

// wait returns after d, or with ctx's error once ctx is done. Short waits
// do not watch ctx; they end within coarseWait anyway.
func (w *waiter) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err() // a zero timerfd value would disarm it and block forever
	}
	target := time.Now().Add(d)
	if w.f == nil || d > coarseWait {
		// Sleep most of a long wait on a Go timer, which watches ctx.
		if err := sleepCtx(ctx, d-fineWait); err != nil || w.f == nil {
			return err
		}
		if d = time.Until(target); d <= 0 {
			return nil
		}
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(w.fd, 0, &spec, nil); err != nil {
		return sleepCtx(ctx, d)
	}
	if _, err := w.f.Read(w.buf[:]); err != nil {
		return sleepCtx(ctx, time.Until(target))
	}
	return nil
}

func (w *waiter) close() {
	if w.f != nil {
		_ = w.f.Close()
	}
}
