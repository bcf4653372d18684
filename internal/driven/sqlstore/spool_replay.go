package sqlstore

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// Replay seals the open segment and passes the records of every sealed
// segment, oldest first, to apply in batches of at most 512. A segment is
// removed when all its batches were applied; the first error stops Replay.
func (sp *Spool) Replay(apply func([]device.Record) error) error {
	sp.replay.Lock()
	defer sp.replay.Unlock()
	sp.mu.Lock()
	if sp.cur != nil {
		sp.cur.Close()
		sp.cur = nil
	}
	segs, err := sp.segments()
	sp.mu.Unlock()
	if err != nil {
		return err
	}
	for _, seq := range segs {
		var n int64
		var batch []device.Record
		size, err := sp.read(seq, func(r device.Record) error {
			batch = append(batch, r)
			if len(batch) < 512 {
				return nil
			}
			n += int64(len(batch))
			err := apply(batch)
			batch = nil
			return err
		})
		if err == nil && len(batch) > 0 {
			n += int64(len(batch))
			err = apply(batch)
		}
		if err != nil {
			return err
		}
		if err := os.Remove(sp.path(seq)); err != nil {
			return err
		}
		sp.mu.Lock()
		sp.records -= n
		sp.bytes -= size
		sp.mu.Unlock()
	}
	return nil
}

func (sp *Spool) count(seq uint64) (int64, int64, error) {
	var n int64
	size, err := sp.read(seq, func(device.Record) error { n++; return nil })
	return n, size, err
}

// read calls fn for each intact frame of a segment and returns the
// segment's size on disk.
func (sp *Spool) read(seq uint64, fn func(device.Record) error) (int64, error) {
	f, err := os.Open(sp.path(seq))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return st.Size(), nil // end, or a torn header
		}
		n, sum := binary.LittleEndian.Uint32(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
		if n > 1<<20 {
			return st.Size(), nil // garbage length: a torn tail
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil || crc32.Checksum(b, crcTable) != sum {
			return st.Size(), nil
		}
		var rec device.Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return st.Size(), fmt.Errorf("spool segment %d: %w", seq, err)
		}
		if err := fn(rec); err != nil {
			return st.Size(), err
		}
	}
}
