package bus

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// record is one encoded event waiting to be sent.
type record struct {
	data []byte // one JSON object, no newline
	// id is the message ID used when the record travels alone: the txn_id
	// of a transaction event, empty for other records.
	id string
}

func (r record) size() int64 { return int64(len(r.data)) + 1 }

// spool is the on-disk overflow of a Publisher: segment files named
// <seq>.jsonl, each holding a run of encoded events, one per line. Events in
// a segment with a lower seq are older. The caller serialises access.
type spool struct {
	dir      string
	maxBytes int64
	id       string    // stable publisher ID, kept in <dir>/id
	segs     []segment // sorted by seq, oldest first
	bytes    int64
	nextSeq  uint64
}

type segment struct {
	seq   uint64
	size  int64
	count int
}

const segSuffix = ".jsonl"

// openSpool opens (or creates) the spool in dir and indexes the segments a
// previous run left behind.
func openSpool(dir string, maxBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bus: spool: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, nextSeq: 1}
	idFile := filepath.Join(dir, "id")
	switch raw, err := os.ReadFile(idFile); {
	case err == nil && len(bytes.TrimSpace(raw)) > 0:
		s.id = string(bytes.TrimSpace(raw))
	case err == nil || errors.Is(err, fs.ErrNotExist):
		var b [12]byte
		_, _ = rand.Read(b[:])
		s.id = hex.EncodeToString(b[:])
		if err := writeFileAtomic(idFile, []byte(s.id+"\n")); err != nil {
			return nil, fmt.Errorf("bus: spool: %w", err)
		}
	default:
		return nil, fmt.Errorf("bus: spool: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bus: spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name)) // interrupted write
			continue
		}
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("bus: spool: %w", err)
		}
		s.segs = append(s.segs, segment{seq: seq, size: int64(len(data)), count: bytes.Count(data, []byte{'\n'})})
		s.bytes += int64(len(data))
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return cmpUint(a.seq, b.seq) })
	return s, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// reserve hands out the next segment number. Batches taken from memory
// reserve one too, so that a batch spilled on shutdown sorts before any
// segment written after it was taken.
func (s *spool) reserve() uint64 {
	seq := s.nextSeq
	s.nextSeq++
	return seq
}

// events is the number of events in all segments.
func (s *spool) events() int {
	n := 0
	for _, g := range s.segs {
		n += g.count
	}
	return n
}

// fit is how many of recs, from the front, fit under the byte bound.
func (s *spool) fit(recs []record) int {
	room := s.maxBytes - s.bytes
	for i, r := range recs {
		room -= r.size()
		if room < 0 {
			return i
		}
	}
	return len(recs)
}

func (s *spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segSuffix))
}

// write stores recs as segment seq.
func (s *spool) write(seq uint64, recs []record) error {
	var buf bytes.Buffer
	for _, r := range recs {
		buf.Write(r.data)
		buf.WriteByte('\n')
	}
	if err := writeFile(s.path(seq), buf.Bytes(), false); err != nil {
		return fmt.Errorf("bus: spool: %w", err)
	}
	g := segment{seq: seq, size: int64(buf.Len()), count: len(recs)}
	i, _ := slices.BinarySearchFunc(s.segs, seq, func(g segment, seq uint64) int { return cmpUint(g.seq, seq) })
	s.segs = slices.Insert(s.segs, i, g)
	s.bytes += g.size
	return nil
}

// read loads segment g.
func (s *spool) read(g segment) ([]record, error) {
	data, err := os.ReadFile(s.path(g.seq))
	if err != nil {
		return nil, fmt.Errorf("bus: spool: %w", err)
	}
	return parseRecords(data), nil
}

// remove deletes the oldest segment, which must be g.
func (s *spool) remove(g segment) error {
	if len(s.segs) > 0 && s.segs[0].seq == g.seq {
		s.segs = s.segs[1:]
		s.bytes -= g.size
	}
	if err := os.Remove(s.path(g.seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bus: spool: %w", err)
	}
	return nil
}

// parseRecords splits a segment into records; lines that are not JSON
// objects are skipped (a torn or tampered file must not stop delivery).
func parseRecords(data []byte) []record {
	var recs []record
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var head struct {
			Type  string `json:"type"`
			TxnID string `json:"txn_id"`
		}
		if json.Unmarshal(line, &head) != nil {
			continue
		}
		r := record{data: line}
		if head.Type == "" {
			r.id = head.TxnID
		}
		recs = append(recs, r)
	}
	return recs
}

// writeFileAtomic writes data to a temporary file, syncs it and renames it
// over path, so a reader never sees a torn file.
func writeFileAtomic(path string, data []byte) error { return writeFile(path, data, true) }

// writeFile is writeFileAtomic with the fsync optional: spool segments skip
// it, as they guard against a bus outage, not a power cut, and a segment
// lost to one costs events, never a corrupt spool.
func writeFile(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
