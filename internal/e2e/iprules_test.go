package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/iprep/mmdbtest"
	"github.com/vigil-sec/vigil/internal/server"
)

// ipClient sends requests from a chosen loopback address (127.0.0.1 is
// the trusted proxy in these tests; 127.0.0.2 is anybody else).
func ipClient(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// ipGet requests url from the address from, with X-Forwarded-For xff
// (none when empty), and returns the status and the event.
func ipGet(t *testing.T, h *gw, from, xff string) (int, event.Event) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.URL+"/orders", nil)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := ipClient(from).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 403 {
		if e := decodeError(t, resp); e.Error.Code != "blocked" {
			t.Errorf("code %q", e.Error.Code)
		}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, h.eventFor(resp.Header.Get("Vigil-Txn"))
}

// ipFinding is the one ip finding of an event.
func ipFinding(t *testing.T, ev event.Event) event.Finding {
	t.Helper()
	var out []event.Finding
	for _, f := range ev.Findings {
		if f.Layer == "ip" {
			out = append(out, f)
		}
	}
	if len(out) != 1 {
		t.Fatalf("ip findings %+v, want one", ev.Findings)
	}
	return out[0]
}

func writeAtomically(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// TestIPRules runs each kind of ip rule through a real gateway listener,
// behind a trusted proxy (127.0.0.1) that sends X-Forwarded-For.
func TestIPRules(t *testing.T) {
	up := echo(t, "shop")
	lists := t.TempDir()
	drop := filepath.Join(lists, "drop.txt")
	writeAtomically(t, drop, "; Spamhaus DROP List\n203.0.113.0/24 ; SBL1\n")
	geo := filepath.Join(lists, "country.mmdb")
	if err := mmdbtest.WriteCountries(geo, []mmdbtest.Network{
		{Prefix: netip.MustParsePrefix("175.45.176.0/22"), Country: "KP"},
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Country: "GB"},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := withListen(baseConfig(up.URL, fmt.Sprintf(`protect:
  geoip: {database: %s}
  ip_rules:
    - {name: partners, action: allow, cidrs: [192.0.2.10]}
    - {action: deny, cidrs: [192.0.2.0/24, "2001:db8:6::/48"]}
    - {name: spamhaus, action: deny, files: [%s]}
    - {name: embargo, action: deny, countries: [KP]}
`, geo, drop)), "trusted_proxies: [127.0.0.1/32]")
	h := startGateway(t, cfg, server.Options{})

	for _, tc := range []struct {
		name, from, xff string
		status          int
		rule, kind, msg string
		sourceIP        string
	}{
		{"denied CIDR", "127.0.0.1", "192.0.2.66", 403, "ip:1", "ip_denied", "client address is in 192.0.2.0/24", "192.0.2.66"},
		{"allow rule first", "127.0.0.1", "192.0.2.10", 200, "", "", "", "192.0.2.10"},
		{"denied IPv6", "127.0.0.1", "2001:db8:6::1", 403, "ip:1", "ip_denied", "2001:db8:6::/48", "2001:db8:6::1"},
		{"reputation list", "127.0.0.1", "203.0.113.9", 403, "spamhaus", "ip_reputation", "203.0.113.0/24 (" + drop + " line 2)", "203.0.113.9"},
		{"country", "127.0.0.1", "175.45.177.3", 403, "embargo", "country_denied", "country KP", "175.45.177.3"},
		{"other country", "127.0.0.1", "81.2.69.1", 200, "", "", "", "81.2.69.1"},
		{"XFF chain: the first untrusted hop decides", "127.0.0.1", "203.0.113.9, 10.9.9.9", 200, "", "", "", "10.9.9.9"},
		{"untrusted peer: its XFF is ignored", "127.0.0.2", "203.0.113.9", 200, "", "", "", "127.0.0.2"},
		{"untrusted peer: its XFF is ignored (country)", "127.0.0.2", "175.45.177.3", 200, "", "", "", "127.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ev := ipGet(t, h, tc.from, tc.xff)
			if status != tc.status {
				t.Fatalf("status %d, want %d (findings %+v)", status, tc.status, ev.Findings)
			}
			if ev.Source.IP != tc.sourceIP {
				t.Errorf("source.ip %q, want %q", ev.Source.IP, tc.sourceIP)
			}
			// The country of the client goes on every event once a GeoIP
			// database is configured, not only when a country rule fires.
			wantCC := map[string]string{"175.45.177.3": "KP", "81.2.69.1": "GB"}[tc.sourceIP]
			if ev.Source.Country != wantCC {
				t.Errorf("source.country %q, want %q", ev.Source.Country, wantCC)
			}
			if tc.status == 200 {
				if ev.Decision != "allow" || len(ev.Findings) != 0 {
					t.Errorf("decision %q findings %+v", ev.Decision, ev.Findings)
				}
				return
			}
			f := ipFinding(t, ev)
			if ev.Decision != "block" || f.Stage != "ip_rules" || f.RuleID != tc.rule || f.Kind != tc.kind || f.Action != "block" ||
				f.WouldBlock || !strings.Contains(f.Message, tc.msg) {
				t.Errorf("decision %q finding %+v, want rule %q kind %q message ~%q", ev.Decision, f, tc.rule, tc.kind, tc.msg)
			}
		})
	}

	t.Run("list file updated while running", func(t *testing.T) {
		if status, _ := ipGet(t, h, "127.0.0.1", "198.51.100.7"); status != 200 {
			t.Fatalf("before the update: %d", status)
		}
		writeAtomically(t, drop, "; Spamhaus DROP List\n203.0.113.0/24 ; SBL1\n198.51.100.0/24 ; SBL2\n")
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, ev := ipGet(t, h, "127.0.0.1", "198.51.100.7")
			if status == 403 {
				if f := ipFinding(t, ev); f.RuleID != "spamhaus" || !strings.Contains(f.Message, "198.51.100.0/24 ("+drop+" line 3)") {
					t.Errorf("finding %+v", f)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the new list entry was not enforced within 5s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// A broken update keeps the running list.
		writeAtomically(t, drop, "203.0.113.0/24\n<html>502 Bad Gateway</html>\n")
		time.Sleep(700 * time.Millisecond)
		if status, _ := ipGet(t, h, "127.0.0.1", "198.51.100.7"); status != 403 {
			t.Errorf("after a broken update: %d, want the previous list's 403", status)
		}
	})
}

// TestIPRulesMonitor: in monitor mode (the stage's or the route's) a
// denied client gets through, and the event says what would have happened.
func TestIPRulesMonitor(t *testing.T) {
	up := echo(t, "shop")
	for _, tc := range []struct{ name, extra string }{
		{"stage monitor", "  stages: {ip_rules: {mode: monitor}}\n"},
		{"rule monitor", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := ""
			if tc.extra == "" {
				mode = ", mode: monitor"
			}
			h := startGateway(t, baseConfig(up.URL, "protect:\n"+tc.extra+"  ip_rules:\n    - {name: lab, action: deny, cidrs: [127.0.0.0/8]"+mode+"}\n"), server.Options{})
			status, ev := ipGet(t, h, "127.0.0.1", "")
			if status != 200 || ev.Decision != "allow" {
				t.Fatalf("status %d decision %q, want 200 allow", status, ev.Decision)
			}
			f := ipFinding(t, ev)
			if f.RuleID != "lab" || f.Kind != "ip_denied" || f.Action != "block" || !f.WouldBlock || !strings.Contains(f.Message, "127.0.0.0/8") {
				t.Errorf("finding %+v", f)
			}
		})
	}
}
