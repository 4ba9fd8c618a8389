package iprep

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseFormats(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		in, out    []string // addresses that must and must not match
		lines      map[string]int
	}{
		{"plain", "10.0.0.0/8\n192.0.2.7\n2001:db8::/32\n", []string{"10.9.9.9", "192.0.2.7", "2001:db8::5"}, []string{"192.0.2.8"}, map[string]int{"192.0.2.7": 2}},
		{"comments and blanks", "# header\n\n   \n; also a comment\n// and this\n  10.0.0.1  # trailing\r\n", []string{"10.0.0.1"}, []string{"10.0.0.2"}, map[string]int{"10.0.0.1": 6}},
		{"spamhaus drop", "; Spamhaus DROP List 2026/01/01 - (c) 2026 The Spamhaus Project SLU\n; Last-Modified: Thu, 01 Jan 2026 00:00:00 GMT\n1.10.16.0/20 ; SBL256894\n1.19.0.0/16 ; SBL434604\n", []string{"1.10.31.255", "1.19.200.1"}, []string{"1.10.32.0"}, map[string]int{"1.19.0.1": 4}},
		{"spamhaus json", `{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}` + "\n" + `{"cidr":"2001:db8::/32","sblid":"SBL1","rir":"ripencc"}` + "\n" + `{"type":"metadata","timestamp":1767225600,"size":2,"records":2,"copyright":"(c) 2026 The Spamhaus Project SLU"}` + "\n", []string{"1.10.16.1", "2001:db8::1"}, []string{"1.10.32.1"}, nil},
		{"firehol netset", "#\n# firehol_level1\n#\n# ipv4 hash:net ipset\n#\n0.0.0.0/8\n1.10.16.0/20\n223.254.0.0/16\n", []string{"0.1.2.3", "223.254.9.9"}, []string{"8.8.8.8"}, map[string]int{"1.10.16.5": 7}},
		{"extra fields", "198.51.100.1\t7\n198.51.100.2,2026-01-01\n198.51.100.3 spam source\n", []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}, []string{"198.51.100.4"}, nil},
		{"mapped and masked", "::ffff:203.0.113.0/120\n192.0.2.77/24\n", []string{"203.0.113.9", "192.0.2.1"}, []string{"198.51.100.1"}, nil},
		{"bom, no final newline", "\xef\xbb\xbf10.0.0.1", []string{"10.0.0.1"}, nil, nil},
		{"empty", "", nil, []string{"10.0.0.1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			src, _ := b.Source("list.txt")
			if err := Parse([]byte(tc.data), "list.txt", src, &b); err != nil {
				t.Fatal(err)
			}
			s := b.Build()
			for _, a := range tc.in {
				m, ok := s.Lookup(netip.MustParseAddr(a))
				if !ok || m.Source != "list.txt" {
					t.Errorf("%s not matched (%+v)", a, m)
				}
			}
			for _, a := range tc.out {
				if s.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%s matched", a)
				}
			}
			for a, line := range tc.lines {
				if m, _ := s.Lookup(netip.MustParseAddr(a)); m.Line != line {
					t.Errorf("%s: line %d, want %d", a, m.Line, line)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		data string
		line int
		msg  string
	}{
		{"10.0.0.1\n10.0.0.300\n", 2, `"10.0.0.300" is not an IP address or CIDR`},
		{"# ok\n\n10.0.0.0/33 ; SBL1\n", 3, `"10.0.0.0/33" is not a CIDR`},
		{"10.0.0.1-10.0.0.9\n", 1, "address ranges are not supported"},
		{"1.2.3.4\nexample.com\n", 2, `"example.com" is not an IP address`},
		{`{"cidr": 5}` + "\n", 1, "not a JSON object"},
		{`{"sblid":"SBL1"}` + "\n", 1, `without a "cidr" field`},
		{`{"cidr":"nope"}` + "\n", 1, `"nope" is not an IP address`},
		{"1.2.3.4\n" + strings.Repeat("1", MaxLine+1) + "\n", 2, "line longer than"},
		{"fe80::1%eth0\n", 1, "is not an IP address"},
		{"<html><body>403 Forbidden</body></html>\n", 1, "is not an IP address"},
	} {
		var b Builder
		err := Parse([]byte(tc.data), "feed.txt", 0, &b)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != tc.line || !strings.Contains(pe.Msg, tc.msg) || pe.File != "feed.txt" {
			t.Errorf("%q: %v, want feed.txt line %d %q", tc.data, err, tc.line, tc.msg)
			continue
		}
		if !strings.HasPrefix(err.Error(), "feed.txt:") {
			t.Errorf("error %q does not start with file:line", err)
		}
	}
}

// FuzzParse: the parser never panics, and every entry it accepts is found
// again by a lookup of its first and last address.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"10.0.0.0/8\n192.0.2.7 # x\n", "; c\n1.10.16.0/20 ; SBL256894\n", "2001:db8::/32\n::ffff:1.2.3.4\n",
		`{"cidr":"1.10.16.0/20","sblid":"SBL1"}` + "\n" + `{"type":"metadata"}`, "\xef\xbb\xbf0.0.0.0/0\n::/0",
		"1.2.3.4\t9\n1.2.3.5,x\n", "10.0.0.1-10.0.0.2", "{", "\n\n\r\n", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Builder
		var ps []netip.Prefix
		err := Parse(data, "f", 0, &b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, e := range b.v4 {
			var a [4]byte
			a[0], a[1], a[2], a[3] = byte(e.start.lo>>24), byte(e.start.lo>>16), byte(e.start.lo>>8), byte(e.start.lo)
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4(a), int(e.bits)))
		}
		for _, e := range b.v6 {
			ps = append(ps, netip.PrefixFrom(e.start.addr(), int(e.bits)))
		}
		s := b.Build()
		for _, p := range ps {
			first := p.Addr()
			var last netip.Addr
			if first.Is4() {
				last = netip.AddrFrom4(uint32Bytes(be32(first) | uint32(uint64(^uint32(0))>>p.Bits())))
			} else {
				last = u128Of(first).last(p.Bits()).addr()
			}
			for _, a := range []netip.Addr{first, last} {
				if m, ok := s.Lookup(a); !ok || !m.Prefix.Contains(a) {
					t.Fatalf("%v (from %v) not found: %+v", a, p, m)
				}
			}
		}
	})
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uint32Bytes(x uint32) [4]byte {
	return [4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}
}
