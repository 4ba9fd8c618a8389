package logs

import (
	"strings"
	"time"
)

// parseCLF parses one nginx/Apache common or combined log line:
//
//	[%v[:%p]] %h %l %u %t "%r" %>s %b ["%{Referer}i" "%{User-Agent}i"] [more...]
//
// A leading virtual host (Apache's vhost_combined, nginx formats that
// start with $host) is recognised by the four tokens before the time and
// becomes the record's Host. The line is copied into one string; every
// field is a substring of it.
func parseCLF(b []byte, rec *Record, st *parseState) bool {
	line := string(b)
	i := 0
	// Remote host.
	j := strings.IndexByte(line, ' ')
	if j <= 0 {
		return false
	}
	rec.RemoteIP = line[:j]
	i = j + 1
	if vhostFirst(line, i) {
		rec.Host = hostOnly(rec.RemoteIP)
		j = strings.IndexByte(line[i:], ' ')
		rec.RemoteIP = line[i : i+j]
		i += j + 1
	}
	// ident and user: tokens, the user may be quoted.
	for k := 0; k < 2; k++ {
		var ok bool
		if i, ok = skipToken(line, i); !ok {
			return false
		}
	}
	// [time]
	if i >= len(line) || line[i] != '[' {
		return false
	}
	j = strings.IndexByte(line[i:], ']')
	if j < 0 {
		return false
	}
	t, ok := parseCLFTime(line[i+1:i+j], st)
	if !ok {
		return false
	}
	rec.Time = t
	i += j + 1
	i = skipSpaces(line, i)
	// "request"
	req, next, esc, ok := quoted(line, i)
	if !ok {
		return false
	}
	if esc {
		req = unescape(req)
	}
	if !parseRequestLine(req, rec) {
		return false
	}
	i = skipSpaces(line, next)
	// status
	n, next, ok := number(line, i)
	if !ok || n < 100 || n > 999 {
		return false
	}
	rec.Status = int(n)
	i = skipSpaces(line, next)
	// bytes: number or '-'
	if i < len(line) && line[i] == '-' {
		i++
	} else {
		n, next, ok = number(line, i)
		if !ok {
			return false
		}
		rec.RespBytes = n
		i = next
	}
	i = skipSpaces(line, i)
	if i >= len(line) {
		return true // common log format
	}
	ref, next, esc, ok := quoted(line, i)
	if !ok {
		return true // trailing extras we do not know; the core fields are fine
	}
	if esc {
		ref = unescape(ref)
	}
	if ref != "-" {
		rec.Referer = ref
	}
	i = skipSpaces(line, next)
	ua, _, esc, ok := quoted(line, i)
	if ok {
		if esc {
			ua = unescape(ua)
		}
		if ua != "-" {
			rec.UserAgent = ua
		}
	}
	return true
}

// vhostFirst reports whether three tokens follow position i before the
// [time]: then the line's first token was a virtual host, not the client.
func vhostFirst(line string, i int) bool {
	if i >= len(line) || line[i] == '[' {
		return false
	}
	for k := 0; k < 3; k++ {
		var ok bool
		if i, ok = skipToken(line, i); !ok {
			return false
		}
	}
	return i < len(line) && line[i] == '['
}

// isCombined reports whether a parsed line carried referer/user-agent
// fields (used by the sniffer to tell combined from common).
func isCombinedLine(b []byte) bool {
	// A combined line ends with a quoted field after the size.
	s := strings.TrimRight(string(b), " \r\n")
	if !strings.HasSuffix(s, `"`) {
		return false
	}
	// The request is the first quoted field; count quotes outside escapes.
	q := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			q++
		}
	}
	return q >= 6
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// skipToken skips one space-terminated token (or a quoted one) and the
// spaces after it.
func skipToken(s string, i int) (int, bool) {
	if i >= len(s) {
		return i, false
	}
	if s[i] == '"' {
		_, next, _, ok := quoted(s, i)
		if !ok {
			return i, false
		}
		return skipSpaces(s, next), true
	}
	j := strings.IndexByte(s[i:], ' ')
	if j < 0 {
		return i, false
	}
	return skipSpaces(s, i+j), true
}

// quoted returns the content of the double-quoted field at s[i], the index
// after the closing quote and whether it contained backslash escapes.
func quoted(s string, i int) (string, int, bool, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", i, false, false
	}
	esc := false
	for j := i + 1; j < len(s); {
		q := strings.IndexByte(s[j:], '"')
		if q < 0 {
			break
		}
		bs := strings.IndexByte(s[j:j+q], '\\')
		if bs < 0 {
			return s[i+1 : j+q], j + q + 1, esc, true
		}
		// An escape before the quote: skip the escaped byte and go on.
		esc = true
		j += bs + 2
	}
	return "", i, false, false
}

// unescape resolves the \" \\ and \xHH escapes Apache and nginx write.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'x':
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
				i += 2
				continue
			}
			b.WriteString(`\x`)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func number(s string, i int) (int64, int, bool) {
	start := i
	var n int64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if i-start >= 18 {
			return 0, i, false
		}
		n = n*10 + int64(s[i]-'0')
		i++
	}
	return n, i, i > start
}

// parseRequestLine splits "METHOD URI PROTO" into the record.
func parseRequestLine(req string, rec *Record) bool {
	sp := strings.IndexByte(req, ' ')
	if sp <= 0 {
		return false
	}
	method := req[:sp]
	if !validMethod(method) {
		return false
	}
	rec.Method = internMethod(method)
	rest := strings.TrimLeft(req[sp+1:], " ")
	uri := rest
	if sp = strings.LastIndexByte(rest, ' '); sp > 0 {
		if p := rest[sp+1:]; strings.HasPrefix(p, "HTTP/") {
			uri = strings.TrimRight(rest[:sp], " ")
			rec.Proto = internProto(p)
		}
	}
	if uri == "" {
		return false
	}
	splitURI(uri, rec)
	return rec.Path != ""
}

// splitURI sets Host, Path and Query from an origin-form or absolute URI.
func splitURI(uri string, rec *Record) {
	if uri[0] != '/' && uri != "*" {
		// absolute-form (proxy requests): scheme://host/path
		if k := strings.Index(uri, "://"); k > 0 {
			rest := uri[k+3:]
			slash := strings.IndexAny(rest, "/?")
			if slash < 0 {
				rec.Host = rest
				rec.Path = "/"
				return
			}
			rec.Host = rest[:slash]
			uri = rest[slash:]
			if uri[0] == '?' {
				rec.Path = "/"
				rec.Query = uri[1:]
				return
			}
		}
	}
	if q := strings.IndexByte(uri, '?'); q >= 0 {
		rec.Path, rec.Query = uri[:q], uri[q+1:]
		if rec.Path == "" {
			rec.Path = "/"
		}
		return
	}
	rec.Path = uri
}

func validMethod(m string) bool {
	if len(m) > 20 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// internMethod returns a constant string for common methods so records do
// not keep the whole line alive through Method.
func internMethod(m string) string {
	switch m {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "HEAD":
		return "HEAD"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "OPTIONS":
		return "OPTIONS"
	}
	return strings.Clone(m)
}

func internProto(p string) string {
	switch p {
	case "HTTP/1.1":
		return "HTTP/1.1"
	case "HTTP/1.0":
		return "HTTP/1.0"
	case "HTTP/2.0":
		return "HTTP/2.0"
	case "HTTP/2":
		return "HTTP/2"
	case "HTTP/3":
		return "HTTP/3"
	}
	return strings.Clone(p)
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseCLFTime parses "02/Jan/2006:15:04:05 -0700" without allocating.
func parseCLFTime(s string, st *parseState) (time.Time, bool) {
	if len(s) < 20 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' {
		return time.Time{}, false
	}
	day, ok1 := atoi2(s[0:2])
	year, ok2 := atoiN(s[7:11])
	hh, ok3 := atoi2(s[12:14])
	mm, ok4 := atoi2(s[15:17])
	ss, ok5 := atoi2(s[18:20])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return time.Time{}, false
	}
	mon := 0
	for k, m := range months {
		if s[3:6] == m {
			mon = k + 1
			break
		}
	}
	if mon == 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	loc := time.UTC
	if len(s) >= 26 && s[20] == ' ' {
		z := s[21:26]
		h, okh := atoi2(z[1:3])
		m, okm := atoi2(z[3:5])
		if !okh || !okm || (z[0] != '+' && z[0] != '-') {
			return time.Time{}, false
		}
		off := (h*60 + m) * 60
		if z[0] == '-' {
			off = -off
		}
		if off != 0 {
			if st.lastLoc == nil || st.lastOff != off {
				st.lastOff, st.lastLoc = off, time.FixedZone("", off)
			}
			loc = st.lastLoc
		}
	}
	return time.Date(year, time.Month(mon), day, hh, mm, ss, 0, loc), true
}

func atoi2(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

func atoiN(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, len(s) > 0
}
