package iprep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// ParseError is a list file that could not be read, located at its line.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// MaxLine bounds one line of a list file.
const MaxLine = 4096

// Parse reads a list file's contents into b, every entry labelled with src
// and its line. It understands:
//
//   - one IPv4 or IPv6 address or CIDR per line ("1.2.3.4", "10.0.0.0/8",
//     "2001:db8::/32"), host bits masked, IPv4-mapped forms as IPv4;
//   - blank lines and comment lines starting with "#", ";" or "//";
//   - trailing comments after "#" or ";" (Spamhaus DROP: "1.2.3.0/24 ; SBL123");
//   - extra fields after the address, separated by blanks, tabs or a comma
//     (lists that add a score or a date: "1.2.3.4\t5");
//   - JSON lines with a "cidr" field (Spamhaus DROP JSON:
//     {"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}); JSON
//     lines without one (its {"type":"metadata",...} trailer) are skipped.
//
// FireHOL .netset and ipset files are the first form. Anything else on a
// line (a range "a-b", a host name, a broken address) is an error naming
// the line: the whole file is refused so that a truncated or mangled
// download never replaces a good list.
func Parse(data []byte, name string, src uint16, b *Builder) error {
	line := 0
	for len(data) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		if len(l) > MaxLine {
			return &ParseError{name, line, fmt.Sprintf("line longer than %d bytes", MaxLine)}
		}
		if line == 1 {
			l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf"))
		}
		p, ok, err := parseLine(l)
		if err != nil {
			return &ParseError{name, line, err.Error()}
		}
		if ok {
			b.Add(p, src, line)
		}
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// parseLine returns the entry of one line, ok=false for a line with none.
func parseLine(l []byte) (netip.Prefix, bool, error) {
	l = bytes.TrimFunc(l, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
	if len(l) == 0 || l[0] == '#' || l[0] == ';' || bytes.HasPrefix(l, []byte("//")) {
		return netip.Prefix{}, false, nil
	}
	if l[0] == '{' {
		var rec struct {
			CIDR *string `json:"cidr"`
			Type string  `json:"type"`
		}
		if err := json.Unmarshal(l, &rec); err != nil {
			return netip.Prefix{}, false, fmt.Errorf("not a JSON object: %v", err)
		}
		if rec.CIDR == nil {
			if rec.Type != "" {
				return netip.Prefix{}, false, nil
			}
			return netip.Prefix{}, false, fmt.Errorf("JSON line without a \"cidr\" field")
		}
		p, err := ParsePrefix(*rec.CIDR)
		return p, err == nil, err
	}
	end := 0
	for end < len(l) && !isSpace(l[end]) && l[end] != '#' && l[end] != ';' && l[end] != ',' {
		end++
	}
	tok := string(l[:end])
	p, err := ParsePrefix(tok)
	if err != nil {
		if strings.Contains(tok, "-") {
			return netip.Prefix{}, false, fmt.Errorf("%q: address ranges are not supported; write CIDRs", tok)
		}
		return netip.Prefix{}, false, err
	}
	return p, true, nil
}
