package policy

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// LoadTuples reads relationship tuples from a file: one per line,
// "subject relation object", blank lines and # comments skipped.
func LoadTuples(file string) ([]Tuple, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Tuple
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"subject relation object\", got %d fields", file, n, len(fs))
		}
		out = append(out, Tuple{Subject: fs[0], Relation: fs[1], Object: fs[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

// ipIn says ip is inside cidr (false when either does not parse).
func ipIn(ip, cidr string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return false
	}
	return p.Contains(a.Unmap())
}
