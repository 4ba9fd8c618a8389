package iprep

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/iprep/mmdbtest"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	// Write then rename, as feed updaters do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// reloads collects OnReload calls.
type reloads struct{ ch chan error }

func newReloads() *reloads { return &reloads{ch: make(chan error, 100)} }

func (r *reloads) on(_ string, err error) { r.ch <- err }

func (r *reloads) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no reload within 5s")
		return nil
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestListReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drop.txt")
	writeFile(t, path, "203.0.113.0/24 ; SBL1\n")
	l, err := LoadList(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	rl := newReloads()
	w, err := Watch([]Reloader{l}, WatchOptions{Debounce: 20 * time.Millisecond, Log: quiet, OnReload: rl.on})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a, b := netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("198.51.100.5")
	if _, ok := l.Lookup(a); !ok {
		t.Fatal("first load: 203.0.113.5 not listed")
	}

	// 1. A new version adds an address: it is listed without a restart.
	writeFile(t, path, "203.0.113.0/24 ; SBL1\n198.51.100.0/24 ; SBL2\n")
	if err := rl.wait(t); err != nil {
		t.Fatal(err)
	}
	if m, ok := l.Lookup(b); !ok || m.Line != 2 || m.Source != path {
		t.Fatalf("after reload: %+v %v", m, ok)
	}

	// 2. A broken version (line 3) is refused: the previous list keeps serving.
	writeFile(t, path, "203.0.113.0/24\n192.0.2.0/24\n<html>oops\n")
	err = rl.wait(t)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 3 {
		t.Fatalf("broken file: %v, want a parse error on line 3", err)
	}
	if _, ok := l.Lookup(b); !ok {
		t.Error("a broken file replaced the good list")
	}
	if l.Lookup(netip.MustParseAddr("192.0.2.1")); l.Status().Err == nil || l.Status().Entries != 2 {
		t.Errorf("status %+v", l.Status())
	}

	// 3. Deleted: the previous list keeps serving; recreated: it is read.
	os.Remove(path)
	if err := rl.wait(t); err == nil {
		t.Error("reload of a deleted file reported no error")
	}
	if _, ok := l.Lookup(a); !ok {
		t.Error("deleting the file emptied the list")
	}
	writeFile(t, path, "192.0.2.0/24\n")
	if err := rl.wait(t); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Lookup(a); ok {
		t.Error("the old contents are still served")
	}
	if _, ok := l.Lookup(netip.MustParseAddr("192.0.2.9")); !ok {
		t.Error("the recreated file is not served")
	}
	if st := l.Status(); st.Err != nil || st.Reloads != 4 || st.Entries != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestListDebounce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l.txt")
	writeFile(t, path, "10.0.0.1\n")
	l, err := LoadList(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	rl := newReloads()
	w, err := Watch([]Reloader{l}, WatchOptions{Debounce: 300 * time.Millisecond, Log: quiet, OnReload: rl.on})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// A file written in pieces: the half-written state is never parsed.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"10.0.0.2\n10.0", ".0.3\n"} {
		f.WriteString(part)
		f.Sync()
		time.Sleep(30 * time.Millisecond)
	}
	f.Close()
	if err := rl.wait(t); err != nil {
		t.Fatalf("a half-written file was parsed: %v", err)
	}
	select {
	case err := <-rl.ch:
		t.Errorf("a second reload (%v): the writes were not debounced", err)
	case <-time.After(500 * time.Millisecond):
	}
	if !l.set.Load().Contains(netip.MustParseAddr("10.0.0.3")) {
		t.Error("final contents not served")
	}
}

func TestListLimits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.txt")
	writeFile(t, path, strings.Repeat("10.0.0.1\n", 200))
	if _, err := LoadList(path, 1000); err == nil || !strings.Contains(err.Error(), "larger than the 1000-byte limit") {
		t.Errorf("oversized list: %v", err)
	}
	if _, err := LoadList(filepath.Join(dir, "missing.txt"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing list: %v", err)
	}
	writeFile(t, path, "10.0.0.1\nbad\n")
	_, err := LoadList(path, 0)
	if err == nil || err.Error() != path+`:2: "bad" is not an IP address or CIDR` {
		t.Errorf("bad list: %v", err)
	}
}

func TestCountries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "country.mmdb")
	nets := []mmdbtest.Network{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Country: "GB"},
		{Prefix: netip.MustParsePrefix("1.0.16.0/20"), Country: "JP"},
		{Prefix: netip.MustParsePrefix("2a02:ff40::/29"), Country: "RU"},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Country: ""},
	}
	if err := mmdbtest.WriteCountries(path, nets); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCountries(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ip, want string }{
		{"81.2.69.142", "GB"}, {"::ffff:81.2.69.142", "GB"}, {"1.0.31.255", "JP"}, {"1.0.32.0", ""},
		{"2a02:ff40::1", "RU"}, {"10.1.2.3", ""}, {"192.0.2.1", ""}, {"2001:db8::1", ""},
	} {
		if got := c.Country(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.ip, got, tc.want)
		}
	}
	gb := netip.MustParseAddr("81.2.69.142")
	if n := testing.AllocsPerRun(100, func() { c.Country(gb) }); n != 0 {
		t.Errorf("%v allocations per cached lookup", n)
	}

	rl := newReloads()
	w, err := Watch([]Reloader{c}, WatchOptions{Debounce: 20 * time.Millisecond, Log: quiet, OnReload: rl.on})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// A new database moves 81.2.69.0/24 to FR.
	nets[0].Country = "FR"
	b, _ := mmdbtest.Countries(nets)
	writeFile(t, path, string(b))
	if err := rl.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := c.Country(gb); got != "FR" {
		t.Errorf("after reload: %q, want FR", got)
	}
	// A truncated download is refused; FR stays.
	writeFile(t, path, string(b[:len(b)/3]))
	if err := rl.wait(t); err == nil {
		t.Error("a truncated database was accepted")
	}
	if got := c.Country(gb); got != "FR" {
		t.Errorf("after a failed reload: %q, want FR", got)
	}
	if _, err := OpenCountries(filepath.Join(dir, "nope.mmdb"), 0); err == nil {
		t.Error("missing database opened")
	}
	writeFile(t, filepath.Join(dir, "text.mmdb"), "10.0.0.0/8\n")
	if _, err := OpenCountries(filepath.Join(dir, "text.mmdb"), 0); err == nil || !strings.Contains(err.Error(), "not a MaxMind DB") {
		t.Errorf("a text file as database: %v", err)
	}
}

func TestCountrySet(t *testing.T) {
	var cs CountrySet
	for _, in := range []string{"ru", "KP", "Zz", "AA"} {
		c, err := ParseCountry(in)
		if err != nil {
			t.Fatal(err)
		}
		cs.Add(c)
	}
	for code, want := range map[string]bool{"RU": true, "KP": true, "ZZ": true, "AA": true, "US": false, "": false, "R": false, "ru": false} {
		if cs.Has(code) != want {
			t.Errorf("%q: %v", code, !want)
		}
	}
	for _, bad := range []string{"", "R", "RUS", "1A", "é", "R-"} {
		if _, err := ParseCountry(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestListConcurrentReload: lookups run while the list is swapped.
func TestListConcurrentReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.txt")
	writeFile(t, path, "10.0.0.0/8\n")
	l, err := LoadList(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for {
				select {
				case <-stop:
					done <- ok
					return
				default:
				}
				// 10.0.0.0/8 is in every version.
				if _, in := l.Lookup(netip.MustParseAddr("10.1.2.3")); !in {
					ok = false
				}
			}
		}()
	}
	for i := range 50 {
		writeFile(t, path, fmt.Sprintf("10.0.0.0/8\n192.0.2.%d\n", i))
		if err := l.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 4 {
		if !<-done {
			t.Error("a lookup missed an entry present in every version")
		}
	}
	if _, ok := l.Lookup(netip.MustParseAddr("192.0.2.49")); !ok {
		t.Error("last version not served")
	}
}
