package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"github.com/vigil-sec/vigil/internal/pathnorm"
)

// FramingConn watches the raw bytes of an HTTP/1.x connection for requests
// whose framing is ambiguous — both Content-Length and Transfer-Encoding, or
// more than one Content-Length — the raw material of request smuggling, and
// for absolute-form request targets (GET http://a.example/ HTTP/1.1) whose
// host disagrees with the Host header, which net/http drops unseen.
// net/http quietly resolves those (Transfer-Encoding wins, duplicates that
// agree are merged), so the check must happen below the handler: this
// wrapper follows request boundaries (headers, Content-Length bodies,
// chunked bodies) as net/http reads them, and records the index of the
// first ambiguous request. The handler asks, per request, whether its own
// request is that one or a later one, answers 400 and closes the
// connection. HTTP/2 (the h2c preface) and upgraded connections are not
// scanned: HTTP/2 frames carry their own lengths.
type FramingConn struct {
	net.Conn

	mu       sync.Mutex
	st       scanState
	bad      int64 // 1-based index of the first ambiguous request; 0 none
	why      Violation
	served   int64 // requests handed to the handler so far
	upgraded bool
}

type scanPhase uint8

const (
	phRequestLine scanPhase = iota
	phHeaders
	phBody
	phChunkSize
	phChunkData
	phChunkDataCRLF
	phTrailers
	phOff
)

type scanState struct {
	phase     scanPhase
	line      [256]byte // start of the current line (enough for CL/TE names and values)
	lineLen   int
	lineTotal int
	index     int64 // requests whose header block started
	remaining int64
	clCount   int
	clValue   int64
	clBad     bool
	te        bool
	teChunked bool
	upgrade   bool
	// absolute-form request target: its canonical authority and scheme.
	absolute  bool
	https     bool
	authority string
}

// Violation is why the scanner refuses a request: the error code and the
// finding kind the handler answers and records, and a message.
type Violation struct {
	Code, Kind, Message string
}

func smuggling(reason string) Violation {
	return Violation{Code: "ambiguous_framing", Kind: "request_smuggling", Message: "request framing is ambiguous: " + reason}
}

func hostMismatch(msg string) Violation {
	return Violation{Code: "host_mismatch", Kind: "host_mismatch", Message: msg}
}

// NewFramingConn wraps c.
func NewFramingConn(c net.Conn) *FramingConn { return &FramingConn{Conn: c} }

// Read implements net.Conn and scans what it returns.
func (c *FramingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.scan(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// NextRequest is called by the handler once per HTTP/1 request on this
// connection; it reports whether that request (or an earlier one) is to be
// refused, and why.
func (c *FramingConn) NextRequest() (Violation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.served++
	if c.bad > 0 && c.served >= c.bad {
		return c.why, true
	}
	return Violation{}, false
}

func (c *FramingConn) flag(v Violation) {
	if c.bad == 0 {
		c.bad = c.st.index
		c.why = v
	}
	c.st.phase = phOff
}

func (c *FramingConn) scan(p []byte) {
	s := &c.st
	for len(p) > 0 {
		switch s.phase {
		case phOff:
			return
		case phBody, phChunkData:
			n := int64(len(p))
			if n > s.remaining {
				n = s.remaining
			}
			s.remaining -= n
			p = p[n:]
			if s.remaining == 0 {
				if s.phase == phBody {
					c.endRequest()
				} else {
					s.phase = phChunkDataCRLF
				}
			}
			continue
		}
		// Line-oriented phases.
		i := 0
		for ; i < len(p) && p[i] != '\n'; i++ {
		}
		seg := p[:i]
		if s.lineLen < len(s.line) {
			s.lineLen += copy(s.line[s.lineLen:], seg)
		}
		s.lineTotal += len(seg)
		if i == len(p) {
			return // the line continues in the next read
		}
		p = p[i+1:]
		line := s.line[:s.lineLen]
		cut := s.lineTotal > len(s.line)
		if len(line) > 0 && line[len(line)-1] == '\r' && !cut {
			line = line[:len(line)-1]
		}
		empty := s.lineTotal == 0 || (s.lineTotal == 1 && s.line[0] == '\r')
		s.lineLen, s.lineTotal = 0, 0
		c.onLine(line, empty, cut)
	}
}

// onLine handles one line; cut says only its start was kept.
func (c *FramingConn) onLine(line []byte, empty, cut bool) {
	s := &c.st
	switch s.phase {
	case phRequestLine:
		if empty {
			return // tolerated leading CRLF between requests
		}
		if hasPrefixFold(line, "PRI * HTTP/2") {
			s.phase = phOff
			return
		}
		s.index++
		s.clCount, s.clValue, s.clBad, s.te, s.teChunked, s.upgrade = 0, 0, false, false, false, false
		s.absolute, s.https, s.authority = false, false, ""
		s.phase = phHeaders
		c.requestTarget(line, cut)
	case phHeaders:
		if empty {
			c.endHeaders()
			return
		}
		name, value, ok := splitHeader(line)
		if !ok {
			return
		}
		switch {
		case equalFold(name, "content-length"):
			s.clCount++
			v, ok := parseDecimal(value)
			if !ok {
				s.clBad = true
			}
			s.clValue = v
		case equalFold(name, "transfer-encoding"):
			s.te = true
			s.teChunked = hasSuffixFoldBytes(trimSpace(value), "chunked")
		case equalFold(name, "upgrade"):
			s.upgrade = true
		case s.absolute && equalFold(name, "host"):
			if cut {
				c.flag(hostMismatch("the Host header is too long to check against the request target"))
				return
			}
			if h := pathnorm.Host(string(trimSpace(value)), s.https); h != s.authority {
				c.flag(hostMismatch(fmt.Sprintf("the request target names host %q but the Host header %q", s.authority, h)))
			}
		}
	case phChunkSize:
		size, ok := parseHex(line)
		if !ok {
			// net/http rejects this too; stop following the stream.
			s.phase = phOff
			return
		}
		if size == 0 {
			s.phase = phTrailers
			return
		}
		s.remaining = size
		s.phase = phChunkData
	case phChunkDataCRLF:
		s.phase = phChunkSize
	case phTrailers:
		if empty {
			c.endRequest()
		}
	}
}

func (c *FramingConn) endHeaders() {
	s := &c.st
	switch {
	case s.te && s.clCount > 0:
		c.flag(smuggling("both Content-Length and Transfer-Encoding"))
		return
	case s.clCount > 1:
		c.flag(smuggling("more than one Content-Length"))
		return
	case s.clBad:
		c.flag(smuggling("invalid Content-Length"))
		return
	}
	if s.upgrade {
		// An upgraded connection stops being HTTP/1; if the upgrade is
		// refused the handler closes the connection (see Upgrading).
		c.upgraded = true
		s.phase = phOff
		return
	}
	switch {
	case s.te && s.teChunked:
		s.phase = phChunkSize
	case s.te:
		// A non-chunked final coding: net/http refuses it (501); stop.
		s.phase = phOff
	case s.clValue > 0:
		s.remaining = s.clValue
		s.phase = phBody
	default:
		c.endRequest()
	}
}

func (c *FramingConn) endRequest() { c.st.phase = phRequestLine }

// requestTarget notes an absolute-form target's authority (canonical, as
// the handler compares hosts), for the Host header to be checked against.
// net/http routes by the target and drops the Host header: without this
// check a request could name one host to Vigil and another to anything
// that reads the header.
func (c *FramingConn) requestTarget(line []byte, cut bool) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return
	}
	t := line[sp+1:]
	i := bytes.Index(t, []byte("://"))
	if len(t) == 0 || t[0] == '/' || i <= 0 || bytes.IndexByte(t[:i], '/') >= 0 {
		return // origin-form, *, or authority-form (CONNECT)
	}
	rest := t[i+3:]
	j := bytes.IndexAny(rest, "/?# ")
	if j < 0 {
		if cut {
			c.flag(hostMismatch("the request target is too long to check against the Host header"))
		}
		return
	}
	auth := rest[:j]
	if bytes.IndexByte(auth, '@') >= 0 {
		c.flag(hostMismatch("the request target carries user information"))
		return
	}
	s := &c.st
	s.absolute, s.https = true, equalFold(t[:i], "https")
	s.authority = pathnorm.Host(string(auth), s.https)
}

// Upgrading reports whether the scanner stopped following the connection
// because a request asked for a protocol upgrade. A handler that does not
// complete the upgrade must close the connection.
func (c *FramingConn) Upgrading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upgraded
}

type connKey struct{}

// Framing returns c itself; wrappers that embed a FramingConn inherit it.
func (c *FramingConn) Framing() *FramingConn { return c }

type framer interface{ Framing() *FramingConn }

// ConnContext is the http.Server ConnContext hook that lets handlers find
// the connection of their request (its FramingConn, its TLS state).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// FramingFrom returns the request's FramingConn, if any.
func FramingFrom(ctx context.Context) *FramingConn {
	if f, ok := ctx.Value(connKey{}).(framer); ok {
		return f.Framing()
	}
	return nil
}

// TLSStateFrom returns the TLS state of a connection whose TLS Vigil
// terminated itself (net/http leaves Request.TLS nil for those).
func TLSStateFrom(ctx context.Context) *tls.ConnectionState {
	if c, ok := ctx.Value(connKey{}).(interface{ ConnectionState() tls.ConnectionState }); ok {
		cs := c.ConnectionState()
		return &cs
	}
	return nil
}

func splitHeader(line []byte) (name, value []byte, ok bool) {
	for i, b := range line {
		if b == ':' {
			return line[:i], line[i+1:], true
		}
	}
	return nil, nil, false
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 32
	}
	return b
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], toLowerASCII(s))
}

func hasSuffixFoldBytes(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[len(b)-len(s):], s)
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lower(b[i])
	}
	return string(b)
}

func parseDecimal(b []byte) (int64, bool) {
	b = trimSpace(b)
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func parseHex(b []byte) (int64, bool) {
	for i, c := range b {
		if c == ';' {
			b = b[:i]
			break
		}
	}
	b = trimSpace(b)
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
