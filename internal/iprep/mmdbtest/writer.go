// Package mmdbtest writes small MaxMind DB (MMDB v2) files for tests: a
// country database mapping networks to ISO codes, in the layout of
// GeoLite2-Country (IPv6 tree, IPv4 under ::/96, records
// {"country":{"iso_code":"XX"}}). It follows the MaxMind DB format
// specification (https://maxmind.github.io/MaxMind-DB/) and is read back by
// github.com/oschwald/maxminddb-golang in its tests, verifier included.
// Test code only: it keeps the tree in memory and is not fast.
package mmdbtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"time"
)

// Network is one network and its country code ("" writes a record with no
// country, like a reserved range in a real database).
type Network struct {
	Prefix  netip.Prefix
	Country string
}

type node struct {
	rec [2]record
}

// record: child node, data index (>=0), or empty.
type record struct {
	child *node
	data  int
}

var empty = record{data: -1}

// Countries builds the database bytes. Later networks overwrite earlier
// ones where they overlap.
func Countries(nets []Network) ([]byte, error) {
	root := &node{rec: [2]record{empty, empty}}
	var codes []string
	index := map[string]int{}
	for _, n := range nets {
		p := n.Prefix.Masked()
		if !p.IsValid() || p.Bits() == 0 {
			return nil, fmt.Errorf("mmdbtest: bad prefix %v", n.Prefix)
		}
		a, bits := p.Addr(), p.Bits()
		if a.Is4() {
			a, bits = netip.AddrFrom16(a.As16()), bits+96
			// As16 of an IPv4 address is ::ffff:a.b.c.d; the tree wants ::a.b.c.d.
			b := a.As16()
			b[10], b[11] = 0, 0
			a = netip.AddrFrom16(b)
		}
		di, ok := index[n.Country]
		if !ok {
			di = len(codes)
			codes = append(codes, n.Country)
			index[n.Country] = di
		}
		insert(root, a.As16(), bits, di)
	}
	// Alias ::ffff:0:0/96 to the IPv4 subtree (::/96), as MaxMind's
	// databases do, so that IPv4-mapped lookups find IPv4 records.
	v4 := root
	for i := 0; i < 96; i++ {
		r := v4.rec[0]
		if r.child == nil {
			c := &node{rec: [2]record{r, r}}
			v4.rec[0] = record{child: c, data: -1}
		}
		v4 = v4.rec[0].child
	}
	var mapped [16]byte
	mapped[10], mapped[11] = 0xff, 0xff
	insertRecord(root, mapped, 96, record{child: v4, data: -1})
	// Number the nodes breadth first.
	var order []*node
	num := map[*node]int{}
	queue := []*node{root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if _, seen := num[n]; seen {
			continue
		}
		num[n] = len(order)
		order = append(order, n)
		for _, r := range n.rec {
			if r.child != nil {
				queue = append(queue, r.child)
			}
		}
	}
	// Data section: one map per code.
	var data bytes.Buffer
	offsets := make([]int, len(codes))
	for i, c := range codes {
		offsets[i] = data.Len()
		if c == "" {
			writeMap(&data, 0)
			continue
		}
		writeMap(&data, 1)
		writeString(&data, "country")
		writeMap(&data, 1)
		writeString(&data, "iso_code")
		writeString(&data, c)
	}
	nodeCount := len(order)
	var out bytes.Buffer
	for _, n := range order {
		for _, r := range n.rec {
			var v uint32
			switch {
			case r.child != nil:
				v = uint32(num[r.child])
			case r.data >= 0:
				v = uint32(nodeCount + 16 + offsets[r.data])
			default:
				v = uint32(nodeCount)
			}
			_ = binary.Write(&out, binary.BigEndian, v)
		}
	}
	out.Write(make([]byte, 16))
	out.Write(data.Bytes())
	out.WriteString("\xab\xcd\xefMaxMind.com")
	meta := []struct {
		k string
		f func()
	}{
		{"binary_format_major_version", func() { writeUint(&out, 5, 2) }},
		{"binary_format_minor_version", func() { writeUint(&out, 5, 0) }},
		{"build_epoch", func() { writeUint(&out, 9, uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix())) }},
		{"database_type", func() { writeString(&out, "Vigil-Test-Country") }},
		{"description", func() { writeMap(&out, 1); writeString(&out, "en"); writeString(&out, "Vigil test country database") }},
		{"ip_version", func() { writeUint(&out, 5, 6) }},
		{"languages", func() { writeControl(&out, 11, 1); writeString(&out, "en") }},
		{"node_count", func() { writeUint(&out, 6, uint64(nodeCount)) }},
		{"record_size", func() { writeUint(&out, 5, 32) }},
	}
	sort.Slice(meta, func(i, j int) bool { return meta[i].k < meta[j].k })
	writeMap(&out, len(meta))
	for _, m := range meta {
		writeString(&out, m.k)
		m.f()
	}
	return out.Bytes(), nil
}

// WriteCountries writes the database to path.
func WriteCountries(path string, nets []Network) error {
	b, err := Countries(nets)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func bit(a [16]byte, i int) int { return int(a[i/8]>>(7-i%8)) & 1 }

func insert(n *node, a [16]byte, bits, data int) { insertRecord(n, a, bits, record{data: data}) }

func insertRecord(n *node, a [16]byte, bits int, rec record) {
	for i := 0; i < bits; i++ {
		b := bit(a, i)
		if i == bits-1 {
			n.rec[b] = rec
			return
		}
		r := n.rec[b]
		if r.child == nil {
			// Split an empty or data record into a node holding it twice.
			c := &node{rec: [2]record{r, r}}
			n.rec[b] = record{child: c, data: -1}
		}
		n = n.rec[b].child
	}
}

// writeControl writes a control byte (and extended type byte) for type t
// with size sz (< 29).
func writeControl(w *bytes.Buffer, t, sz int) {
	if sz >= 29 {
		panic("mmdbtest: size too large")
	}
	if t <= 7 {
		w.WriteByte(byte(t<<5 | sz))
		return
	}
	w.WriteByte(byte(sz))
	w.WriteByte(byte(t - 7))
}

func writeMap(w *bytes.Buffer, pairs int) { writeControl(w, 7, pairs) }

func writeString(w *bytes.Buffer, s string) {
	if len(s) >= 285 {
		panic("mmdbtest: string too long")
	}
	if len(s) >= 29 {
		// size 29 + next byte
		w.WriteByte(byte(2<<5 | 29))
		w.WriteByte(byte(len(s) - 29))
	} else {
		writeControl(w, 2, len(s))
	}
	w.WriteString(s)
}

// writeUint writes an unsigned integer of type t (5 uint16, 6 uint32, 9 uint64).
func writeUint(w *bytes.Buffer, t int, v uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	i := 0
	for i < 8 && b[i] == 0 {
		i++
	}
	writeControl(w, t, 8-i)
	w.Write(b[i:])
}
