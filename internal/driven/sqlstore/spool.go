package sqlstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
)

// Spool is a bounded, append-only, on-disk queue of uplink records for the
// time the database is down. It is a directory of segments
// (NNNNNNNNNNNNNNNNNNNN.seg); each record is a frame [length u32][crc32c
// u32][JSON]. Append writes a whole batch and fsyncs once before returning
// (group fsync: one fsync per batch, not per uplink), so an acknowledged
// uplink survives a crash of the process or the machine. Replay seals the
// open segment, applies the sealed ones oldest first and deletes each only
// after its records committed; a crash mid-replay replays that segment
// again, which the uplink idempotency key makes harmless. A torn frame at
// the tail of a segment (a crash mid-append, never acknowledged) ends that
// segment. When the spool holds MaxBytes, Append fails with CodeUnavailable
// (the device retries later) rather than filling the disk.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64

	mu      sync.Mutex // guards the fields below and appends
	cur     *os.File
	curSeq  uint64
	curSize int64
	bytes   int64 // on disk, all segments
	records int64 // not yet replayed

	replay sync.Mutex // one replay at a time
	depth  prometheus.GaugeFunc
}

// SpoolOptions configure OpenSpool.
type SpoolOptions struct {
	MaxBytes     int64 // default 256 MiB
	SegmentBytes int64 // default 4 MiB
	Registerer   prometheus.Registerer
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// OpenSpool opens (creating) the spool in dir and counts what a previous run
// left there; Replay applies it.
func OpenSpool(dir string, o SpoolOptions) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	sp := &Spool{dir: dir, maxBytes: o.MaxBytes, segBytes: o.SegmentBytes}
	if sp.maxBytes <= 0 {
		sp.maxBytes = 256 << 20
	}
	if sp.segBytes <= 0 {
		sp.segBytes = 4 << 20
	}
	segs, err := sp.segments()
	if err != nil {
		return nil, err
	}
	for _, seq := range segs {
		n, size, err := sp.count(seq)
		if err != nil {
			return nil, err
		}
		sp.records += n
		sp.bytes += size
		sp.curSeq = seq
	}
	sp.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "liveplane_uplink_spool_records", Help: "Uplink records in the on-disk spool, waiting for the database.",
	}, func() float64 { return float64(sp.Depth()) })
	if o.Registerer != nil {
		o.Registerer.MustRegister(sp.depth)
	}
	return sp, nil
}

// Depth is the number of records waiting to be replayed.
func (sp *Spool) Depth() int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.records
}

func (sp *Spool) path(seq uint64) string { return filepath.Join(sp.dir, fmt.Sprintf("%020d.seg", seq)) }

func (sp *Spool) segments() ([]uint64, error) {
	entries, err := os.ReadDir(sp.dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", sp.dir, err)
	}
	var out []uint64
	for _, e := range entries {
		var seq uint64
		if name, ok := strings.CutSuffix(e.Name(), ".seg"); ok {
			if _, err := fmt.Sscanf(name, "%d", &seq); err == nil {
				out = append(out, seq)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

var errSpoolFull = &domain.Error{Code: domain.CodeUnavailable, Op: "sqlstore.Spool", Msg: "database unavailable and the spool is full"}

// Append durably adds recs (all or none are acknowledged).
func (sp *Spool) Append(recs []device.Record) error {
	var buf []byte
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return domain.Wrap("sqlstore.Spool", err)
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(b)))
		buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(b, crcTable))
		buf = append(buf, b...)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.bytes+int64(len(buf)) > sp.maxBytes {
		return errSpoolFull
	}
	if sp.cur == nil || sp.curSize >= sp.segBytes {
		if err := sp.rotateLocked(); err != nil {
			return err
		}
	}
	if _, err := sp.cur.Write(buf); err != nil {
		return sp.failLocked(err)
	}
	if err := sp.cur.Sync(); err != nil {
		return sp.failLocked(err)
	}
	sp.curSize += int64(len(buf))
	sp.bytes += int64(len(buf))
	sp.records += int64(len(recs))
	return nil
}

// failLocked abandons the open segment after a failed write: what it holds
// up to the failure stays readable; the torn tail is ignored on replay.
func (sp *Spool) failLocked(err error) error {
	sp.cur.Close()
	sp.cur = nil
	return &domain.Error{Code: domain.CodeUnavailable, Op: "sqlstore.Spool", Msg: "spool write failed", Err: err}
}

func (sp *Spool) rotateLocked() error {
	if sp.cur != nil {
		if err := sp.cur.Close(); err != nil {
			return sp.failLocked(err)
		}
		sp.cur = nil
	}
	sp.curSeq++
	f, err := os.OpenFile(sp.path(sp.curSeq), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return &domain.Error{Code: domain.CodeUnavailable, Op: "sqlstore.Spool", Msg: "spool write failed", Err: err}
	}
	if d, err := os.Open(sp.dir); err == nil { // make the new name durable
		_ = d.Sync()
		d.Close()
	}
	sp.cur, sp.curSize = f, 0
	return nil
}

// Close closes the open segment; spooled records stay for the next start.
func (sp *Spool) Close() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.cur != nil {
		err := sp.cur.Close()
		sp.cur = nil
		return err
	}
	return nil
}
