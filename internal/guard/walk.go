package guard

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// EachPair calls fn with every key=value pair of an application/
// x-www-form-urlencoded string (a query string or a form body), still
// escaped: call Unescape on what you need. Pairs are separated by & and,
// as some frameworks do, by ;. It stops when fn returns false.
func EachPair(raw string, fn func(key, value string) bool) {
	for raw != "" {
		i := 0
		for i < len(raw) && raw[i] != '&' && raw[i] != ';' {
			i++
		}
		pair := raw[:i]
		if i < len(raw) {
			raw = raw[i+1:]
		} else {
			raw = ""
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !fn(k, v) {
			return
		}
	}
}

// Unescape decodes one form-encoded component; it allocates only when s
// holds % or +. A malformed escape leaves s as it is.
func Unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// maxNesting is the deepest document WalkJSON reads.
const maxNesting = 1024

// bytesString is b as a string without a copy. The string aliases b: it
// must not be kept after b changes (callers keep strings.Clone copies).
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// MaxJSONDepth bounds the path WalkJSON keeps; deeper values are still
// visited, with the path cut at this depth.
const MaxJSONDepth = 32

// JSONPath is where a value sits in a JSON document: object keys (still
// JSON-escaped) and array indexes.
type JSONPath struct {
	keys [MaxJSONDepth]string
	idx  [MaxJSONDepth]int // -1 for an object level
	n    int
	deep int // levels beyond MaxJSONDepth
}

// Key is the innermost object key ("" inside an array of scalars at the
// top).
func (p *JSONPath) Key() string {
	for i := p.n - 1; i >= 0; i-- {
		if p.idx[i] < 0 {
			return p.keys[i]
		}
	}
	return ""
}

// AppendTo writes the path as a.b[2].c.
func (p *JSONPath) AppendTo(b []byte) []byte {
	for i := 0; i < p.n; i++ {
		if p.idx[i] >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(p.idx[i]), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, p.keys[i]...)
	}
	if p.deep > 0 {
		b = append(b, ".…"...)
	}
	return b
}

// String is the path as a.b[2].c.
func (p *JSONPath) String() string { return string(p.AppendTo(nil)) }

var pathPool = sync.Pool{New: func() any { return new(JSONPath) }}

// ErrJSON is returned by WalkJSON for a document it cannot read.
var ErrJSON = errors.New("malformed JSON")

// WalkJSON calls fn for every string and number in a JSON document, with
// its path; raw is the value as written (a string without its quotes and
// still escaped: see UnescapeJSON). raw and the path's keys alias doc:
// copy what you keep. At most max values are visited (0:
// no bound). A document cut short (a body at the inspection cap) is
// walked as far as it goes. It does not allocate.
func WalkJSON(doc []byte, max int, fn func(p *JSONPath, raw string, isString bool) bool) error {
	p := pathPool.Get().(*JSONPath)
	defer pathPool.Put(p)
	*p = JSONPath{}
	var kind [maxNesting]byte // '{' or '['
	depth := 0
	expectKey := false
	// next moves on to the next member or element after a comma.
	next := func() {
		if kind[depth-1] == '{' {
			expectKey = true
		} else if depth <= MaxJSONDepth {
			p.idx[p.n-1]++
		}
	}
	seen := 0
	i := 0
	for {
		i = skipWS(doc, i)
		if i >= len(doc) {
			return nil
		}
		c := doc[i]
		if expectKey {
			switch c {
			case '}':
				expectKey = false
				goto closeContainer
			case '"':
				end, ok := scanString(doc, i+1)
				if !ok {
					return nil
				}
				key := doc[i+1 : end]
				i = skipWS(doc, end+1)
				if i >= len(doc) {
					return nil
				}
				if doc[i] != ':' {
					return ErrJSON
				}
				i++
				if depth <= MaxJSONDepth && p.n > 0 {
					p.keys[p.n-1] = bytesString(key)
				}
				expectKey = false
				continue
			default:
				return ErrJSON
			}
		}
		switch c {
		case '{', '[':
			if depth == maxNesting {
				return ErrJSON
			}
			kind[depth] = c
			if depth < MaxJSONDepth {
				p.keys[p.n], p.idx[p.n] = "", -1
				if c == '[' {
					p.idx[p.n] = 0
				}
				p.n++
			} else {
				p.deep++
			}
			depth++
			i++
			if c == '{' {
				expectKey = true
				continue
			}
			if j := skipWS(doc, i); j < len(doc) && doc[j] == ']' {
				i = j
				goto closeContainer
			}
			continue
		case '}', ']':
			goto closeContainer
		case '"':
			end, ok := scanString(doc, i+1)
			if !ok {
				return nil
			}
			seen++
			if !fn(p, bytesString(doc[i+1:end]), true) || (max > 0 && seen >= max) {
				return nil
			}
			i = end + 1
		default:
			j := i
			for j < len(doc) && doc[j] != ',' && doc[j] != '}' && doc[j] != ']' && doc[j] > ' ' {
				j++
			}
			if j == i {
				return ErrJSON
			}
			if c == '-' || '0' <= c && c <= '9' {
				seen++
				if !fn(p, bytesString(doc[i:j]), false) || (max > 0 && seen >= max) {
					return nil
				}
			}
			i = j
		}
		// After a value: a comma or the end of the container.
		i = skipWS(doc, i)
		if i >= len(doc) {
			return nil
		}
		switch doc[i] {
		case ',':
			i++
			if depth == 0 {
				return ErrJSON
			}
			next()
			continue
		case '}', ']':
		default:
			return ErrJSON
		}
	closeContainer:
		if depth == 0 {
			return ErrJSON
		}
		depth--
		if depth < MaxJSONDepth {
			p.n--
		} else {
			p.deep--
		}
		i++
		i = skipWS(doc, i)
		if depth == 0 {
			return nil
		}
		if i >= len(doc) {
			return nil
		}
		switch doc[i] {
		case ',':
			i++
			next()
		case '}', ']':
			goto closeContainer
		default:
			return ErrJSON
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index of the closing quote of a string starting
// at i (just after its opening quote).
func scanString(b []byte, i int) (int, bool) {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i, true
		case '\\':
			i += 2
			continue
		}
		i++
	}
	return 0, false
}

// UnescapeJSON decodes the escapes of a JSON string's contents; it
// allocates only when there is a backslash.
func UnescapeJSON(raw string) string {
	i := 0
	for i < len(raw) && raw[i] != '\\' {
		i++
	}
	if i == len(raw) {
		return raw
	}
	out := make([]byte, 0, len(raw))
	out = append(out, raw[:i]...)
	for i < len(raw) {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			out = append(out, c)
			i++
			continue
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw, i)
			if !ok {
				out = append(out, '\\', 'u')
				continue
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(raw, i+2); ok && i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if dr := utf16.DecodeRune(r, r2); dr != utf8.RuneError {
						r = dr
						i += 6
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, e) // \" \\ \/
		}
	}
	return string(out)
}

func hex4(b string, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for j := i; j < i+4; j++ {
		c := b[j]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
