package livelogclient

// tracker is the client's position in a device's stream and the
// continuity rules of docs/live-logs.md: dedupe by seq, prev must equal the
// seq received before, epochs are not comparable. Pure, so it is tested
// without a server.
type tracker struct {
	epoch string
	// expect is the resume position: the seq of the last line delivered, or
	// hello.lastSeq when none arrived since the hello. The next line's prev
	// must equal it.
	expect uint64
	// last is the highest seq delivered in this epoch: anything at or below
	// it is a duplicate.
	last    uint64
	started bool // a hello arrived at least once
	// announced: a gap was just reported (relay gap frame), so the next
	// line's prev is not checked again.
	announced  bool
	duplicates int64
}

// position returns where to resume from; ok is false before the first hello.
func (t *tracker) position() (Position, bool) {
	return Position{Epoch: t.epoch, Seq: t.expect}, t.started
}

// hello takes a connection's hello and returns the gap it reports, if any.
func (t *tracker) hello(h Hello) *Gap {
	var g *Gap
	switch {
	case !h.Recovered:
		g = &Gap{Reason: h.Reason, Epoch: h.Epoch, PrevEpoch: t.epoch, FromSeq: t.expect}
		if h.Gap != nil {
			g.Span = *h.Gap
		}
	case t.started && h.Epoch != t.epoch:
		// The server says recovered but the epoch moved: never trust a
		// seq across epochs.
		g = &Gap{Reason: ReasonEpoch, Epoch: h.Epoch, PrevEpoch: t.epoch, FromSeq: t.expect}
	}
	if h.Epoch != t.epoch {
		t.last = 0
	}
	t.epoch, t.expect, t.started, t.announced = h.Epoch, h.LastSeq, true, false
	return g
}

// line decides whether l is delivered (false: a duplicate) and returns the
// gap it reveals, if any. The gap is reported before the line.
func (t *tracker) line(l *Line) (bool, *Gap) {
	var g *Gap
	if l.Epoch != t.epoch {
		if !t.announced {
			g = &Gap{Reason: ReasonEpoch, Epoch: l.Epoch, PrevEpoch: t.epoch, FromSeq: t.expect}
		}
		t.epoch, t.last, t.expect, t.announced = l.Epoch, 0, l.Prev, true
	}
	if l.Seq <= t.last {
		t.duplicates++
		return false, nil
	}
	if l.Prev != t.expect && !t.announced {
		g = &Gap{Reason: ReasonOrder, Epoch: l.Epoch, PrevEpoch: t.epoch, FromSeq: t.expect,
			Span: GapSpan{AfterSeq: t.expect, BeforeSeq: l.Seq}}
	}
	t.last, t.expect, t.announced, t.started = l.Seq, l.Seq, false, true
	return true, g
}

// control takes a relay's gap frame: it is the explicit report, so the next
// line is not reported again.
func (t *tracker) control(c *Control) *Gap {
	if c.Type != "gap" {
		return nil
	}
	g := &Gap{Reason: c.Reason, Epoch: c.Epoch, PrevEpoch: t.epoch, FromSeq: t.expect}
	if c.Gap != nil {
		g.Span = *c.Gap
	}
	if c.Epoch != "" && c.Epoch != t.epoch {
		t.epoch, t.last = c.Epoch, 0
	}
	t.announced = true
	return g
}
