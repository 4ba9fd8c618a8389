package iprep

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxFileBytes bounds a list file (and a country database) unless
// configured otherwise: 64 MiB holds some four million CIDRs.
const DefaultMaxFileBytes = 64 << 20

// readBounded reads a whole file, refusing one larger than max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if max <= 0 {
		max = DefaultMaxFileBytes
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &ParseError{File: path, Msg: fmt.Sprintf("larger than the %d-byte limit (max_file_bytes)", max)}
	}
	return data, nil
}

// Status describes the contents a reloadable source serves.
type Status struct {
	// Loaded is when the contents served now were read.
	Loaded time.Time
	// Entries is how many entries (prefixes, or networks) they hold.
	Entries int
	// Err is the last reload's error (nil when the last attempt worked):
	// the previous contents keep serving.
	Err error
	// Reloads counts attempts, successful or not, after the first load.
	Reloads int
}

type status struct {
	mu sync.Mutex
	st Status
}

func (s *status) get() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *status) set(entries int, err error, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !first {
		s.st.Reloads++
	}
	s.st.Err = err
	if err == nil {
		s.st.Loaded, s.st.Entries = time.Now(), entries
	}
}

// List is a reputation list file: a Set swapped atomically when the file
// is reloaded. Lookups never wait for a reload.
type List struct {
	path string
	max  int64
	set  atomic.Pointer[Set]
	st   status
}

// LoadList reads and parses the list at path (at most max bytes; 0 means
// DefaultMaxFileBytes). An error is a *ParseError naming the line, or the
// file's open error.
func LoadList(path string, max int64) (*List, error) {
	l := &List{path: path, max: max}
	s, err := l.read()
	if err != nil {
		return nil, err
	}
	l.set.Store(s)
	l.st.set(s.Entries(), nil, true)
	return l, nil
}

func (l *List) read() (*Set, error) {
	data, err := readBounded(l.path, l.max)
	if err != nil {
		return nil, err
	}
	var b Builder
	src, _ := b.Source(l.path)
	if err := Parse(data, l.path, src, &b); err != nil {
		return nil, err
	}
	return b.Build(), nil
}

// Path is the file the list is read from.
func (l *List) Path() string { return l.path }

// Reload reads the file again. On any error the previous contents stay.
func (l *List) Reload() error {
	s, err := l.read()
	if err == nil {
		l.set.Store(s)
		l.st.set(s.Entries(), nil, false)
		return nil
	}
	l.st.set(0, err, false)
	return err
}

// Status tells what the list serves and how the last reload went.
func (l *List) Status() Status { return l.st.get() }

// Lookup finds the list entry covering a. It does not allocate.
func (l *List) Lookup(a netip.Addr) (Match, bool) { return l.set.Load().Lookup(a) }
