package livews

import "time"

// Writes counts every write(2)/writev(2) of line frames, on every path.
func (s *Server) Writes() int64 { return s.hub.fl.writes.Load() }

// FlushRounds counts the flusher's rounds.
func (s *Server) FlushRounds() int64 { return s.hub.fl.rounds.Load() }

// Coalescing reports whether the hub coalesces writes now.
func (s *Server) Coalescing() bool { return s.hub.coalescing.Load() }

// FlushBusy is the time the flusher spent in rounds.
func (s *Server) FlushBusy() time.Duration { return time.Duration(s.hub.fl.busy.Load()) }

// KeepCoalescing puts the hub in coalescing mode for good, as if a direct
// write cost an hour (so direct writes would never keep up again). Call it
// before the first line, from the goroutine that calls Deliver (the only
// one that touches the duty state).
func (s *Server) KeepCoalescing() {
	s.hub.fl.perLine = time.Hour
	s.hub.coalescing.Store(true)
}
