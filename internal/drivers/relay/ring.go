package relay

// entry is one line a feed forwarded, kept for browsers that join late or
// resume.
type entry struct {
	seq, prev uint64
	raw       []byte
}

// ring keeps a feed's last lines (bounded), oldest first.
type ring struct {
	buf   []entry
	start int
	n     int
}

func newRing(size int) ring { return ring{buf: make([]entry, max(size, 1))} }

func (r *ring) push(e entry) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = e
		r.n++
		return
	}
	r.buf[r.start] = e
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring) at(i int) entry { return r.buf[(r.start+i)%len(r.buf)] }

func (r *ring) reset() {
	clear(r.buf)
	r.start, r.n = 0, 0
}

// after returns the entries with seq > seq, in order.
func (r *ring) after(seq uint64) []entry {
	i := r.n
	for i > 0 && r.at(i-1).seq > seq {
		i--
	}
	return r.tail(r.n - i)
}

// tail returns the last k entries (fewer if it holds fewer).
func (r *ring) tail(k int) []entry {
	k = min(max(k, 0), r.n)
	out := make([]entry, 0, k)
	for i := r.n - k; i < r.n; i++ {
		out = append(out, r.at(i))
	}
	return out
}

// hello is the relay's hello to a browser (the same fields as serve's).
type hello struct {
	Type      string `json:"type"`
	DeviceID  string `json:"deviceId"`
	Epoch     string `json:"epoch"`
	Recovered bool   `json:"recovered"`
	Reason    string `json:"reason,omitempty"`
	Gap       *span  `json:"gap,omitempty"`
	LastSeq   uint64 `json:"lastSeq"`
}

type span struct {
	AfterSeq  uint64 `json:"afterSeq"`
	BeforeSeq uint64 `json:"beforeSeq"`
}

// greet answers a browser's start against what the feed holds: the
// resume rules of docs/live-logs.md applied to the feed's window (its
// ring) instead of the server's. pos is the feed's position (the seq of
// the last line forwarded, or its upstream's hello.lastSeq).
func greet(deviceID, epoch string, pos uint64, r *ring, s Start) (hello, []entry) {
	h := hello{Type: "hello", DeviceID: deviceID, Epoch: epoch, Recovered: true}
	var hist []entry
	switch {
	case s.Epoch != "" && s.Epoch != epoch:
		h.Recovered, h.Reason = false, "epoch"
		hist = r.tail(r.n)
	case s.Epoch != "":
		hist = r.after(s.Seq)
		switch {
		case len(hist) > 0 && hist[0].prev == s.Seq:
		case len(hist) == 0 && s.Seq >= pos: // nothing since (ahead: later duplicates are the client's to drop)
		default:
			h.Recovered, h.Reason = false, "window"
			h.Gap = &span{AfterSeq: s.Seq}
			if len(hist) > 0 {
				h.Gap.BeforeSeq = hist[0].seq
			}
		}
	case s.Last > 0:
		hist = r.tail(s.Last)
	}
	h.LastSeq = pos
	if len(hist) > 0 {
		h.LastSeq = hist[0].prev
	}
	return h, hist
}
