package iprules

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/pipeline"
)

// TestListReload: the stage serves a list file's new version without being
// rebuilt, and keeps the old one when the new one is broken.
func TestListReload(t *testing.T) {
	dir := testdir(t)
	path := filepath.Join(dir, "drop.txt")
	done := make(chan error, 10)
	s := build(t, dir, `protect: {ip_rules: [{name: drop, action: deny, files: ["{{DIR}}/drop.txt"]}]}`,
		Options{Log: quiet, Debounce: 20 * time.Millisecond, OnReload: func(_ string, err error) { done <- err }})
	wait := func() error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("no reload within 5s")
			return nil
		}
	}
	if o := run(s, "203.0.113.5"); o.v.Action != pipeline.Allow {
		t.Fatalf("before: %+v", o.v)
	}
	writeFile(t, path, "1.10.16.0/20 ; SBL256894\n203.0.113.0/24 ; SBL777\n")
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if o := run(s, "203.0.113.5"); o.v.Action != pipeline.Block || !strings.Contains(o.v.Message, "drop.txt line 2") {
		t.Fatalf("after the update: %+v", o.v)
	}
	writeFile(t, path, "1.10.16.0/20\n203.0.113.0/24\n\n10.0.0.0/8 garbage\n1.2.3\n")
	err := wait()
	if err == nil || !strings.Contains(err.Error(), `drop.txt:5: "1.2.3" is not an IP address`) {
		t.Fatalf("broken update: %v", err)
	}
	if o := run(s, "203.0.113.5"); o.v.Action != pipeline.Block {
		t.Error("a broken update dropped the list")
	}
	if o := run(s, "10.1.1.1"); o.v.Action != pipeline.Allow {
		t.Error("a broken update was partly applied")
	}
	if st := s.Lists()[path]; st.Err == nil || st.Entries != 2 {
		t.Errorf("status %+v", st)
	}
}

func BenchmarkRequest(b *testing.B) {
	dir := testdir(b)
	var sb strings.Builder
	r := rand.New(rand.NewPCG(3, 3))
	for i := range 100_000 {
		x := r.Uint32() | 0x80000000 // keep 10/8 and 1/8 out of the list
		fmt.Fprintf(&sb, "%d.%d.%d.0/24 ; SBL%d\n", x>>24, x>>16&255, x>>8&255, i)
	}
	writeFile(b, filepath.Join(dir, "big.txt"), sb.String())
	s := build(b, dir, `protect:
  geoip: {database: "{{DIR}}/country.mmdb"}
  ip_rules:
    - {name: office, action: allow, cidrs: [10.0.0.0/8, "fd00::/8"]}
    - {name: quarantine, action: deny, cidrs: [192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24]}
    - {name: reputation, action: deny, files: ["{{DIR}}/big.txt", "{{DIR}}/drop.txt"]}
    - {name: embargo, action: deny, countries: [KP, RU]}
`, Options{Log: quiet})
	for _, bc := range []struct {
		name, ip string
		want     pipeline.Action
	}{
		{"allowed/all-rules", "1.2.3.4", pipeline.Allow},
		{"allowed/first-rule", "10.1.2.3", pipeline.Allow},
		{"allowed/v6", "2001:db8::1", pipeline.Allow},
		{"denied/cidr", "203.0.113.9", pipeline.Block},
		{"denied/country", "175.45.176.1", pipeline.Block},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tx := pipeline.NewTxn(nil, testNow, "")
			defer tx.Release()
			if o := run(s, bc.ip); o.v.Action != bc.want {
				b.Fatalf("%s: %+v", bc.ip, o.v)
			}
			tx.ClientIP = mustAddr(bc.ip)
			b.ReportAllocs()
			for b.Loop() {
				tx.Findings = tx.Findings[:0]
				s.Request(b.Context(), tx)
			}
		})
	}
}
