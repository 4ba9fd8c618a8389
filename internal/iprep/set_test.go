package iprep

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func build(t testing.TB, cidrs ...string) *Set {
	t.Helper()
	var b Builder
	for i, c := range cidrs {
		p, err := ParsePrefix(c)
		if err != nil {
			t.Fatal(err)
		}
		b.Add(p, 0, i+1)
	}
	return b.Build()
}

func TestSetLookup(t *testing.T) {
	s := build(t,
		"10.0.0.0/8", "10.1.0.0/16", // nested: the wider one answers
		"192.0.2.7",                          // a single address
		"198.51.100.0/24", "198.51.100.0/24", // duplicate
		"203.0.113.77/24", // host bits masked
		"2001:db8::/32", "2001:db8:1::/48",
		"::ffff:100.64.0.0/106", // IPv4-mapped: 100.64.0.0/10
		"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::1",
		"255.255.255.255",
	)
	for _, tc := range []struct {
		ip, want string // want: the matched prefix, "" for none
		line     int
	}{
		{"10.0.0.0", "10.0.0.0/8", 1},
		{"10.1.2.3", "10.0.0.0/8", 1},
		{"10.255.255.255", "10.0.0.0/8", 1},
		{"11.0.0.0", "", 0},
		{"9.255.255.255", "", 0},
		{"192.0.2.7", "192.0.2.7/32", 3},
		{"192.0.2.6", "", 0},
		{"192.0.2.8", "", 0},
		{"198.51.100.200", "198.51.100.0/24", 4},
		{"203.0.113.1", "203.0.113.0/24", 6},
		{"::ffff:203.0.113.1", "203.0.113.0/24", 6}, // mapped query
		{"100.127.255.255", "100.64.0.0/10", 9},
		{"::ffff:100.64.0.1", "100.64.0.0/10", 9},
		{"100.128.0.0", "", 0},
		{"2001:db8:1::1", "2001:db8::/32", 7},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32", 7},
		{"2001:db9::", "", 0},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "", 0},
		{"fe80::1", "fe80::1/128", 11},
		{"fe80::1%eth0", "fe80::1/128", 11}, // zone ignored
		{"fe80::2", "", 0},
		{"255.255.255.255", "255.255.255.255/32", 12},
		{"0.0.0.0", "", 0},
		{"::", "", 0},
		{"::a00:1", "", 0}, // ::10.0.0.1 is IPv6, not IPv4-mapped
	} {
		m, ok := s.Lookup(netip.MustParseAddr(tc.ip))
		got := ""
		if ok {
			got = m.Prefix.String()
		}
		if got != tc.want || m.Line != tc.line {
			t.Errorf("%s: %q line %d, want %q line %d", tc.ip, got, m.Line, tc.want, tc.line)
		}
	}
	if s.Len() != 8 || s.Entries() != 12 {
		t.Errorf("len %d entries %d, want 8 ranges of 12 entries", s.Len(), s.Entries())
	}
	if (*Set)(nil).Contains(netip.MustParseAddr("10.0.0.1")) || s.Contains(netip.Addr{}) {
		t.Error("nil set or invalid address matched")
	}
	all := build(t, "0.0.0.0/0", "::/0")
	for _, ip := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff::1"} {
		if !all.Contains(netip.MustParseAddr(ip)) {
			t.Errorf("%s not in 0.0.0.0/0 + ::/0", ip)
		}
	}
}

// TestSetAgainstLinearScan compares the sorted ranges with a plain scan on
// random overlapping prefixes.
func TestSetAgainstLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		var b Builder
		var ps []netip.Prefix
		for range 300 {
			var p netip.Prefix
			if r.IntN(2) == 0 {
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], r.Uint32()&0x0f0f00ff) // dense, so prefixes overlap
				p = netip.PrefixFrom(netip.AddrFrom4(a), 4+r.IntN(29)).Masked()
			} else {
				var a [16]byte
				binary.BigEndian.PutUint64(a[:8], r.Uint64()&0x20010db800ff0000)
				p = netip.PrefixFrom(netip.AddrFrom16(a), 16+r.IntN(113)).Masked()
			}
			ps = append(ps, p)
			b.Add(p, 0, len(ps))
		}
		s := b.Build()
		for range 2000 {
			var a netip.Addr
			if r.IntN(2) == 0 {
				var x [4]byte
				binary.BigEndian.PutUint32(x[:], r.Uint32()&0x0f0f00ff)
				a = netip.AddrFrom4(x)
			} else {
				var x [16]byte
				binary.BigEndian.PutUint64(x[:8], r.Uint64()&0x20010db800ff0000)
				binary.BigEndian.PutUint64(x[8:], r.Uint64())
				a = netip.AddrFrom16(x)
			}
			want := false
			for _, p := range ps {
				if p.Contains(a) {
					want = true
					break
				}
			}
			m, got := s.Lookup(a)
			if got != want || (got && !m.Prefix.Contains(a)) {
				t.Fatalf("round %d: %s: got %v (%v), want %v", round, a, got, m.Prefix, want)
			}
		}
	}
}

func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"10.1.2.3/8", "10.0.0.0/8", ""},
		{"192.0.2.7", "192.0.2.7/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"::ffff:192.0.2.7", "192.0.2.7/32", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"::ffff:0:0/95", "::fffe:0:0/95", ""}, // wider than the mapped space: stays IPv6
		{"10.0.0.0/33", "", `"10.0.0.0/33" is not a CIDR`},
		{"fe80::1%eth0", "", `"fe80::1%eth0" is not an IP address or CIDR`},
		{"example.com", "", "is not an IP address"},
		{"", "", "is not an IP address"},
	} {
		p, err := ParsePrefix(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want error %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || p.String() != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, p, err, tc.want)
		}
	}
}

// bigList is n distinct /24s and /32s, as text, like a large reputation
// feed.
func bigList(n int) []byte {
	var sb strings.Builder
	sb.WriteString("# generated\n")
	r := rand.New(rand.NewPCG(7, 7))
	for i := range n {
		x := r.Uint32()
		if i%2 == 0 {
			fmt.Fprintf(&sb, "%d.%d.%d.0/24 ; SBL%d\n", x>>24, x>>16&255, x>>8&255, i)
		} else {
			fmt.Fprintf(&sb, "%d.%d.%d.%d\n", x>>24, x>>16&255, x>>8&255, x&255)
		}
	}
	return []byte(sb.String())
}

func BenchmarkLookup100k(b *testing.B) {
	var bl Builder
	if err := Parse(bigList(100_000), "big.txt", 0, &bl); err != nil {
		b.Fatal(err)
	}
	s := bl.Build()
	r := rand.New(rand.NewPCG(9, 9))
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		addrs[i] = netip.AddrFrom4(a)
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	b.Run("v4", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for i := 0; b.Loop(); i++ {
			if _, ok := s.Lookup(addrs[i&1023]); ok {
				n++
			}
		}
		_ = n
	})
	b.Run("v6", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Lookup(v6)
		}
	})
	b.Logf("%d entries, %d ranges", s.Entries(), s.Len())
}

func TestLookupDoesNotAllocate(t *testing.T) {
	s := build(t, "10.0.0.0/8", "2001:db8::/32")
	a4, a6 := netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { s.Lookup(a4); s.Lookup(a6) }); n != 0 {
		t.Errorf("%v allocations per lookup", n)
	}
}
