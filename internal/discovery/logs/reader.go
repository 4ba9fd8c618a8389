// Package logs reads HTTP traffic logs for offline API discovery: nginx and
// Apache combined and common logs, Envoy/Istio JSON access logs, HAR 1.2
// documents and Vigil's own event lines. The format is sniffed per input and
// gzip is decompressed transparently (detected by magic bytes).
package logs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vigil-sec/vigil/internal/pathnorm"
)

// Format names returned by Reader.Format.
const (
	FormatCombined    = "combined"
	FormatCommon      = "common"
	FormatEnvoyJSON   = "envoy_json"
	FormatHAR         = "har"
	FormatVigilEvents = "vigil_events"
)

// Record is one request read from a log.
//
// String fields of text formats are substrings of one string allocated per
// line: they stay valid after the next call to Next, but keeping any of them
// keeps the whole line in memory; use strings.Clone for long-lived copies.
type Record struct {
	Time      time.Time
	Host      string // authority / Host header, when the format has it
	Method    string
	Path      string // escaped path without the query, in the gateway's canonical form (canonicalPath)
	Query     string // raw query without '?'
	Proto     string // HTTP/1.1, HTTP/2, ...
	Status    int
	ReqBytes  int64
	RespBytes int64
	RemoteIP  string
	UserAgent string
	Referer   string
	RequestID string // x-request-id, when the format has it
	Endpoint  string // the template Vigil already assigned (vigil_events only)

	ReqContentType  string
	RespContentType string
	// Authorization is the raw header value (HAR only). Callers must not
	// store or log it.
	Authorization string
	Latency       time.Duration
	ReqBody       []byte // HAR only
	RespBody      []byte // HAR only
}

// ErrUnknownFormat is returned by NewReader when the input matches no
// supported format.
var ErrUnknownFormat = errors.New("logs: unknown log format")

// bufSize is the line buffer: longer lines are counted as broken.
const bufSize = 256 << 10

// sniffSize is how much of the input is inspected to detect the format.
const sniffSize = 64 << 10

// parser turns one line into a record; it returns false for a broken line.
type parser func(line []byte, rec *Record, st *parseState) bool

// parseState is per-reader scratch state shared by the line parsers.
type parseState struct {
	lastOff int
	lastLoc *time.Location
}

// Reader reads records from one log. It is not safe for concurrent use.
type Reader struct {
	format string
	br     *bufio.Reader
	cnt    *countingReader
	closer io.Closer
	parse  parser
	st     parseState

	har    []Record // HAR entries, decoded up front
	harPos int

	lines, broken int64
	done          bool
}

// Open opens the named log; "-" reads stdin. Gzip is detected by its magic
// bytes. The caller must Close the Reader.
func Open(name string, stdin io.Reader) (*Reader, error) {
	if name == "-" {
		r, err := NewReader(stdin)
		if err != nil {
			return nil, fmt.Errorf("logs: stdin: %w", err)
		}
		return r, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("logs: %w", err)
	}
	r, err := NewReader(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("logs: %s: %w", name, err)
	}
	r.closer = f
	return r, nil
}

// NewReader sniffs the format of r (decompressing gzip when present) and
// returns a Reader for it.
func NewReader(r io.Reader) (*Reader, error) {
	cnt := &countingReader{r: r}
	raw := bufio.NewReaderSize(cnt, bufSize)
	rd := &Reader{cnt: cnt, br: raw}
	if magic, _ := raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		rd.br = bufio.NewReaderSize(zr, bufSize)
	}
	head, err := rd.br.Peek(sniffSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	rd.format = Sniff(head)
	switch rd.format {
	case FormatCombined, FormatCommon:
		rd.parse = parseCLF
	case FormatEnvoyJSON:
		rd.parse = parseEnvoy
	case FormatJSON:
		rd.parse = parseJSONAccess
	case FormatVigilEvents:
		rd.parse = parseEvent
	case FormatHAR:
		recs, dropped, err := parseHAR(rd.br)
		if err != nil {
			return nil, err
		}
		rd.har = recs
		rd.lines, rd.broken = int64(dropped), int64(dropped)
	default:
		return nil, ErrUnknownFormat
	}
	return rd, nil
}

// Format is the detected format: "combined", "common", "envoy_json",
// "json", "har" or "vigil_events".
func (r *Reader) Format() string { return r.format }

// Lines is the number of lines (HAR: entries) consumed so far.
func (r *Reader) Lines() int64 { return r.lines }

// Broken is the number of lines that could not be parsed and were skipped.
func (r *Reader) Broken() int64 { return r.broken }

// BytesRead is the number of bytes read from the underlying input
// (compressed bytes for gzip), for progress reporting against a file size.
func (r *Reader) BytesRead() int64 { return r.cnt.n }

// Close closes the file opened by Open; it is a no-op otherwise.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	return r.closer.Close()
}

// Next fills rec with the next record. It returns io.EOF at the end. Broken
// lines are skipped and counted, never returned as errors; an error other
// than io.EOF is an I/O error of the input.
func (r *Reader) Next(rec *Record) error {
	if r.format == FormatHAR {
		if r.harPos >= len(r.har) {
			return io.EOF
		}
		*rec = r.har[r.harPos]
		r.har[r.harPos] = Record{}
		r.harPos++
		r.lines++
		r.canonicalPath(rec)
		return nil
	}
	for !r.done {
		line, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Too long: count once and skip to the end of the line.
			r.lines++
			r.broken++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.br.ReadSlice('\n')
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					r.done = true
					break
				}
				return err
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return err
			}
			r.done = true
		}
		line = trimEOL(line)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r.lines++
		*rec = Record{}
		if r.parse(line, rec, &r.st) {
			r.canonicalPath(rec)
			return nil
		}
		r.broken++
	}
	return io.EOF
}

// canonicalPath puts rec.Path in the gateway's canonical form, so that
// /a//b, /a/./b and /a/%62 count as /a/b, as they do live. A log line is
// never refused: encoded slashes stay data (keep), and a path the gateway
// would refuse (climbing above the root, control bytes) is kept as logged.
// Vigil's own events carry paths the gateway already normalized (and
// decoded): those are left alone.
func (r *Reader) canonicalPath(rec *Record) {
	if r.format == FormatVigilEvents || !mayNormalize(rec.Path) {
		return
	}
	if p, ch, err := pathnorm.Normalize(rec.Path, pathnorm.Options{EscapedSlashes: pathnorm.Keep}); err == nil && ch != 0 {
		rec.Path = p
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
