package livews_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/livelog"
	"github.com/liveplane/liveplane/internal/drivers/livews"
)

// BenchmarkFanOutPaced is the fan-out bench's shape: one device, many
// subscribers, lines handed to the hub one at a time (no backlog, More
// false) at a fixed rate, the way 100 uplinks/s arrive. The subscribers
// are raw sockets that only count frames, so the figures are the server's:
//
//	srv-ns/delivery   time in Deliver plus the flusher's rounds, per line per
//	                  subscriber (the hub's goroutines never block, so ≈ CPU)
//	writes/delivery   write(2)/writev(2) calls per line per subscriber
//	p50-ms, p99-ms    Deliver -> a subscriber has read the frame (both in
//	                  this process, so the subscribers' scheduling is in it)
//
//	go test -run XXX -bench FanOutPaced -benchtime 500x ./internal/drivers/livews
func BenchmarkFanOutPaced(b *testing.B) {
	for _, bc := range []struct {
		name  string
		subs  int
		every time.Duration
	}{
		{"subs=100/every=10ms", 100, 10 * time.Millisecond},
		{"subs=1000/every=10ms", 1000, 10 * time.Millisecond}, // bench stream --mode fanout
		{"subs=1000/every=1ms", 1000, time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) { benchPaced(b, bc.subs, bc.every) })
	}
}

func benchPaced(b *testing.B, subs int, every time.Duration) {
	e := newEnv(b, livews.Options{QueueFrames: 4096, LagTimeout: 10 * time.Second})
	var got atomic.Int64
	var wg sync.WaitGroup
	sentAt := make([]atomic.Int64, b.N) // unix ns of each line's Deliver
	lat := make([][]time.Duration, subs)
	epoch, last := "", uint64(0)
	conns := make([]net.Conn, subs)
	for i := range conns {
		c, br, hello := rawSubscriber(b, e)
		conns[i], epoch, last = c, hello.Epoch, hello.LastSeq
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := 0
			for {
				n, err := skipFrame(br)
				if err != nil {
					return
				}
				if n > 0 {
					if k < len(sentAt) { // lines arrive in order, each once
						lat[i] = append(lat[i], time.Duration(time.Now().UnixNano()-sentAt[k].Load()))
					}
					k++
					got.Add(1)
				}
			}
		}()
	}
	body := []byte(`{"deviceId":"` + e.dev + `","timestamp":"2026-11-23T15:00:00.123456789Z","type":"uplink","message":"Received uplink #7","data":{"uplinkCount":7,"temperatures":[21.5,-3.75]}}`)
	w0, f0 := writes(e.srv), flushBusy(e.srv)
	var inDeliver time.Duration
	b.ResetTimer()
	start := time.Now()
	prev := last
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		seq := prev + 1
		t0 := time.Now()
		sentAt[i].Store(t0.UnixNano())
		e.srv.Deliver(livelog.Entry{DeviceID: e.dev, Seq: seq, Prev: prev, Epoch: epoch, Body: body})
		inDeliver += time.Since(t0)
		prev = seq
	}
	want := int64(b.N) * int64(subs)
	for got.Load() < want {
		if e.srv.Subscribers() < subs {
			b.Fatalf("a subscriber was closed (%d left)", e.srv.Subscribers())
		}
		time.Sleep(100 * time.Microsecond)
	}
	el := time.Since(start)
	b.StopTimer()
	srv := inDeliver + flushBusy(e.srv) - f0
	b.ReportMetric(float64(srv.Nanoseconds())/float64(want), "srv-ns/delivery")
	if w := writes(e.srv); w >= 0 {
		b.ReportMetric(float64(w-w0)/float64(want), "writes/delivery")
	}
	b.ReportMetric(float64(want)/el.Seconds(), "delivered/s")
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100])/1e6, "p99-ms")
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

// writes and flushBusy read the server's counters where it has them (the
// benchmark also runs against servers without coalescing).
func writes(s any) int64 {
	if w, ok := s.(interface{ Writes() int64 }); ok {
		return w.Writes()
	}
	return -1
}

func flushBusy(s any) time.Duration {
	if w, ok := s.(interface{ FlushBusy() time.Duration }); ok {
		return w.FlushBusy()
	}
	return 0
}

// rawSubscriber does the handshake by hand and reads the hello.
func rawSubscriber(b testing.TB, e *env) (net.Conn, *bufio.Reader, hello) {
	b.Helper()
	addr := strings.TrimPrefix(e.url, "ws://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET /ws?deviceId="+e.dev+" HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer "+e.key+"\r\n\r\n")
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("handshake: %v %v", resp, err)
	}
	var h hello
	var p [2]byte
	if _, err := io.ReadFull(br, p[:]); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, p[1]&0x7f)
	io.ReadFull(br, payload)
	if err := json.Unmarshal(payload, &h); err != nil {
		b.Fatal(err)
	}
	return c, br, h
}

// skipFrame reads past one server frame; n is its payload length for a
// text frame, 0 for a control frame.
func skipFrame(br *bufio.Reader) (int, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, err
		}
		n = int(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, err
		}
		n = int(binary.BigEndian.Uint64(x[:]))
	}
	if _, err := br.Discard(n); err != nil {
		return 0, err
	}
	if h[0]&0x0f != 1 {
		return 0, nil
	}
	return n, nil
}
