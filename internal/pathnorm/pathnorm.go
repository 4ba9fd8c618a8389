// Package pathnorm canonicalizes the parts of a request target that routing,
// stages and upstreams key on: the path (Normalize) and the host (Host).
//
// The canonical path is an escaped path (what goes on the request line):
// percent-escapes of unreserved characters are decoded (%6C becomes l),
// other escapes are kept with upper-case hex, bytes that may not appear raw
// in a path are escaped, dot segments are removed (RFC 3986 §5.2.4, also
// when spelled %2E), repeated slashes are merged, and encoded slashes and
// backslashes get the configured SlashAction. A path that climbs above the
// root, holds a control byte (raw or escaped), a malformed escape, an
// overlong UTF-8 sequence or a double-encoded dot, slash, backslash or
// control byte is an error. Matrix parameters (;) are left alone, and so is
// case unless Options.CaseInsensitive is set.
//
// Normalize does not allocate when its input is already canonical.
package pathnorm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// SlashAction is what happens to %2F, %5C and a raw backslash.
type SlashAction uint8

const (
	// Reject makes them an error (the proxy answers 400). The default.
	Reject SlashAction = iota
	// Keep forwards them as data: %2F and %5C stay escaped, a raw
	// backslash becomes %5C. None of them separates segments.
	Keep
	// DecodeAndForward turns all three into a /, which then takes part in
	// slash merging and dot-segment removal.
	DecodeAndForward
)

var slashActionNames = [...]string{Reject: "reject", Keep: "keep", DecodeAndForward: "decode_and_forward"}

func (a SlashAction) String() string {
	if int(a) < len(slashActionNames) {
		return slashActionNames[a]
	}
	return fmt.Sprintf("SlashAction(%d)", a)
}

// ParseSlashAction parses reject, keep or decode_and_forward; "" is Reject.
func ParseSlashAction(s string) (SlashAction, error) {
	if s == "" {
		return Reject, nil
	}
	for a, n := range slashActionNames {
		if s == n {
			return SlashAction(a), nil
		}
	}
	return Reject, fmt.Errorf("%q is not one of %s", s, strings.Join(slashActionNames[:], ", "))
}

// Options configure Normalize. The zero value is the default: reject
// encoded slashes, keep case.
type Options struct {
	EscapedSlashes SlashAction
	// CaseInsensitive lower-cases the path (outside percent-escapes), for
	// upstreams that ignore case.
	CaseInsensitive bool
}

// Changes says what Normalize rewrote; zero means the path was canonical.
type Changes uint16

// What Normalize may change.
const (
	DecodedUnreserved  Changes = 1 << iota // %6C → l
	UppercasedEscape                       // %2f → %2F
	EscapedRaw                             // a byte not allowed raw in a path → %XX (a raw \ kept as %5C)
	MergedSlashes                          // // → /
	RemovedDotSegments                     // /./ and /x/../
	DecodedSlashes                         // %2F, %5C or \ → / (decode_and_forward)
	Lowercased                             // case_insensitive_match
)

var changeNames = [...]string{"decoded_unreserved", "uppercased_escape", "escaped_raw", "merged_slashes",
	"removed_dot_segments", "decoded_slashes", "lowercased"}

// String lists the changes, comma-separated ("merged_slashes,removed_dot_segments").
func (c Changes) String() string {
	var b []byte
	for i, n := range changeNames {
		if c&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(b, n...)
		}
	}
	return string(b)
}

// Errors Normalize returns.
var (
	ErrNotAbsolute   = errors.New("path does not start with /")
	ErrAboveRoot     = errors.New("path climbs above the root")
	ErrControl       = errors.New("path contains a control character")
	ErrBadEscape     = errors.New("path contains a malformed percent-escape")
	ErrEscapedSlash  = errors.New("path contains an encoded slash or a backslash")
	ErrDoubleEncoded = errors.New("path contains a double-encoded dot, slash, backslash or control character")
	ErrOverlong      = errors.New("path contains an overlong UTF-8 sequence")
)

// Normalize returns the canonical form of the escaped path p and what was
// changed. When p is already canonical it is returned as is, without
// allocating. On error the path must not be used.
func Normalize(p string, o Options) (string, Changes, error) {
	if canonical(p, o) {
		return p, 0, nil
	}
	return normalize(p, o)
}

// byte classes.
const (
	clOther    uint8 = iota // must be escaped (or is a control byte)
	clPlain                 // unreserved, sub-delims, ':' and '@': fine raw
	clUnreserv              // unreserved: fine raw, and decoded from an escape
	clSlash
	clPercent
)

var class = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = clUnreserv, clUnreserv
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = clUnreserv
	}
	for _, c := range "-._~" {
		t[c] = clUnreserv
	}
	for _, c := range "!$&'()*+,;=:@" {
		t[c] = clPlain
	}
	t['/'], t['%'] = clSlash, clPercent
	return t
}()

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// escapeAt decodes the escape %XX at p[i] (p[i] == '%'); upper says both
// hex digits were already upper-case (or decimal).
func escapeAt(p string, i int) (v byte, upper, ok bool) {
	if i+2 >= len(p) {
		return 0, false, false
	}
	h, ok1 := unhex(p[i+1])
	l, ok2 := unhex(p[i+2])
	if !ok1 || !ok2 {
		return 0, false, false
	}
	return h<<4 | l, p[i+1] < 'a' && p[i+2] < 'a', true
}

func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

// escapeProblem checks an escape that stays escaped in the canonical form,
// at p[i] with value v: an overlong UTF-8 lead, or %25 followed by the hex
// of a dot, slash, backslash or control byte (a double encoding).
func escapeProblem(p string, i int, v byte, o Options) error {
	switch {
	case v == '%':
		// escapeAt(p, i+2) reads the two bytes after "%25".
		if w, _, ok := escapeAt(p, i+2); ok {
			switch {
			case w == '.' || isControl(w):
				return ErrDoubleEncoded
			case (w == '/' || w == '\\') && o.EscapedSlashes != Keep:
				return ErrDoubleEncoded
			}
		}
	case v == 0xC0 || v == 0xC1:
		return ErrOverlong
	case v == 0xE0 || v == 0xF0:
		// E0 80–9F and F0 80–8F start overlong three- and four-byte forms.
		if i+3 < len(p) && p[i+3] == '%' {
			if w, _, ok := escapeAt(p, i+3); ok && w >= 0x80 && (v == 0xE0 && w < 0xA0 || v == 0xF0 && w < 0x90) {
				return ErrOverlong
			}
		}
	}
	return nil
}

// canonical reports whether p is its own canonical form. It must agree
// exactly with normalize: true only if normalize would return p unchanged
// and without error.
func canonical(p string, o Options) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	seg := 1
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch class[c] {
		case clUnreserv:
			if o.CaseInsensitive && 'A' <= c && c <= 'Z' {
				return false
			}
		case clPlain:
		case clSlash:
			if s := p[seg:i]; s == "" || s == "." || s == ".." {
				return false
			}
			seg = i + 1
		case clPercent:
			v, upper, ok := escapeAt(p, i)
			if !ok || !upper || class[v] == clUnreserv || isControl(v) {
				return false
			}
			if (v == '/' || v == '\\') && o.EscapedSlashes != Keep {
				return false
			}
			if escapeProblem(p, i, v, o) != nil {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	s := p[seg:]
	return s != "." && s != ".."
}

// normalize is the general case.
func normalize(p string, o Options) (string, Changes, error) {
	if len(p) == 0 || p[0] != '/' {
		return "", 0, ErrNotAbsolute
	}
	var ch Changes
	b := make([]byte, 1, len(p)+8)
	b[0] = '/'
	seg := 1 // start of the current segment in b
	for i := 1; ; {
		end := i >= len(p)
		sep := false
		if !end {
			// One byte, raw or as an escape.
			v, n, escaped, upper := p[i], 1, false, true
			if v == '%' {
				var ok bool
				if v, upper, ok = escapeAt(p, i); !ok {
					return "", 0, ErrBadEscape
				}
				n, escaped = 3, true
			}
			i += n
			keepEscaped := false // v goes out as %XX
			switch {
			case v == '/' && !escaped:
				sep = true
			case isControl(v):
				return "", 0, ErrControl
			case class[v] == clUnreserv || class[v] == clPlain && !escaped:
				if o.CaseInsensitive && 'A' <= v && v <= 'Z' {
					v += 'a' - 'A'
					ch |= Lowercased
				}
				if escaped {
					ch |= DecodedUnreserved
				}
				b = append(b, v)
			case v == '/' || v == '\\':
				switch o.EscapedSlashes {
				case Keep:
					keepEscaped = true
				case DecodeAndForward:
					sep = true
					ch |= DecodedSlashes
				default:
					return "", 0, ErrEscapedSlash
				}
			default:
				keepEscaped = true
			}
			if keepEscaped {
				b = append(b, '%', upperHex[v>>4], upperHex[v&0xf])
				switch {
				case !escaped:
					ch |= EscapedRaw
				case !upper:
					ch |= UppercasedEscape
				}
			}
			if !sep {
				continue
			}
		}
		// The segment b[seg:] is complete.
		switch s := b[seg:]; {
		case len(s) == 0:
			if sep {
				ch |= MergedSlashes
			}
		case len(s) == 1 && s[0] == '.':
			b = b[:seg]
			ch |= RemovedDotSegments
		case len(s) == 2 && s[0] == '.' && s[1] == '.':
			if seg == 1 {
				return "", 0, ErrAboveRoot
			}
			b = b[:bytes.LastIndexByte(b[:seg-1], '/')+1]
			ch |= RemovedDotSegments
		default:
			if sep {
				b = append(b, '/')
			}
		}
		seg = len(b)
		if end {
			break
		}
	}
	out := string(b)
	// Double encodings and overlong forms are judged on the output, where
	// decoding may have put an escape next to what it completes.
	for i := 0; i < len(out); i++ {
		if out[i] == '%' {
			v, _, _ := escapeAt(out, i)
			if err := escapeProblem(out, i, v, o); err != nil {
				return "", 0, err
			}
			i += 2
		}
	}
	if out == p {
		return p, 0, nil
	}
	return out, ch, nil
}
