package iprules

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/iprep/mmdbtest"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// build parses a protect section ({{DIR}} replaced by dir) and builds the
// stage from it, as the gateway does.
func build(t testing.TB, dir, protect string, o Options) *Stage {
	t.Helper()
	cfg, err := config.Parse([]byte(strings.ReplaceAll(protect, "{{DIR}}", dir)), "vigil.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := NewWith(cfg.Protect.IPRules, o)
	if err != nil {
		t.Fatalf("stage: %v", err)
	}
	if st == nil {
		t.Fatal("no stage built")
	}
	s := st.(*Stage)
	t.Cleanup(func() { s.Close() })
	return s
}

type outcome struct {
	v        pipeline.Verdict
	findings []event.Finding
}

func run(s *Stage, ip string) outcome {
	tx := pipeline.NewTxn(httptest.NewRequest("GET", "/", nil), testNow, "")
	defer tx.Release()
	tx.ClientIP = netip.MustParseAddr(ip)
	v, err := s.Request(context.Background(), tx)
	if err != nil {
		panic(err)
	}
	return outcome{v, append([]event.Finding(nil), tx.Findings...)}
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testdir holds a reputation list and a country database.
func testdir(t testing.TB) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "drop.txt"), "; Spamhaus DROP List\n1.10.16.0/20 ; SBL256894\n2001:db8:bad::/48 ; SBL1\n")
	writeFile(t, filepath.Join(dir, "firehol.netset"), "# firehol_level1\n198.51.100.0/24\n")
	err := mmdbtest.WriteCountries(filepath.Join(dir, "country.mmdb"), []mmdbtest.Network{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Country: "GB"},
		{Prefix: netip.MustParsePrefix("175.45.176.0/22"), Country: "KP"},
		{Prefix: netip.MustParsePrefix("2a02:ff40::/29"), Country: "RU"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

type want struct {
	ip     string
	action pipeline.Action
	rule   string // verdict rule id
	kind   string
	msg    string   // substring of the verdict message
	extra  []string // findings the stage recorded itself: "rule kind action would_block"
}

func TestRules(t *testing.T) {
	dir := testdir(t)
	for _, tc := range []struct {
		name, yaml string
		cases      []want
	}{
		{"mapping shorthand (allow list, deny wins)", `protect: {ip_rules: {allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.6.6.0/24, 10.0.0.9]}}`, []want{
			{ip: "10.1.2.3", action: pipeline.Allow},
			{ip: "10.6.6.7", action: pipeline.Block, rule: "ip_rules.deny", kind: "ip_denied", msg: "client address is in 10.6.6.0/24"},
			{ip: "10.0.0.9", action: pipeline.Block, rule: "ip_rules.deny", kind: "ip_denied", msg: "10.0.0.9/32"},
			{ip: "192.0.2.1", action: pipeline.Block, rule: "ip_rules.allow", kind: "ip_not_allowed", msg: "not in the allow list"},
			{ip: "2001:db8::1", action: pipeline.Allow},
			{ip: "2001:db9::1", action: pipeline.Block, rule: "ip_rules.allow", kind: "ip_not_allowed"},
			{ip: "::ffff:10.6.6.7", action: pipeline.Block, rule: "ip_rules.deny", kind: "ip_denied"},
		}},
		{"the issue's list form", "protect:\n  ip_rules:\n    - {action: deny, cidrs: [203.0.113.0/24]}\n", []want{
			{ip: "203.0.113.9", action: pipeline.Block, rule: "ip:0", kind: "ip_denied", msg: "client address is in 203.0.113.0/24"},
			{ip: "::ffff:203.0.113.9", action: pipeline.Block, rule: "ip:0", kind: "ip_denied"},
			{ip: "203.0.114.1", action: pipeline.Allow},
			{ip: "2001:db8::1", action: pipeline.Allow},
		}},
		{"first match wins: allow before deny", `protect:
  ip_rules:
    - {name: office, action: allow, cidrs: [10.6.0.0/16]}
    - {name: quarantine, action: deny, cidrs: [10.6.6.0/24, 10.0.0.0/8]}
`, []want{
			{ip: "10.6.6.7", action: pipeline.Allow},
			{ip: "10.7.0.1", action: pipeline.Block, rule: "quarantine", kind: "ip_denied", msg: "10.0.0.0/8"},
		}},
		{"first match wins: deny before allow", `protect:
  ip_rules:
    - {name: quarantine, action: deny, cidrs: [10.6.6.0/24]}
    - {name: office, action: allow, cidrs: [10.6.0.0/16]}
`, []want{
			{ip: "10.6.6.7", action: pipeline.Block, rule: "quarantine", kind: "ip_denied", msg: "10.6.6.0/24"},
			{ip: "10.6.7.1", action: pipeline.Allow},
		}},
		{"overlapping CIDRs: the widest is named", `protect: {ip_rules: [{action: deny, cidrs: [10.1.2.0/24, 10.0.0.0/8, 10.1.0.0/16, "2001:db8:1::/48", "2001:db8::/32"]}]}`, []want{
			{ip: "10.1.2.3", action: pipeline.Block, rule: "ip:0", msg: "client address is in 10.0.0.0/8"},
			{ip: "2001:db8:1::5", action: pipeline.Block, rule: "ip:0", msg: "2001:db8::/32"},
		}},
		{"allow list with default deny", `protect:
  ip_rules:
    rules: [{name: vpn, action: allow, cidrs: [100.64.0.0/10, "fd00::/8"]}]
    default: deny
`, []want{
			{ip: "100.64.1.1", action: pipeline.Allow},
			{ip: "fd00::1", action: pipeline.Allow},
			{ip: "8.8.8.8", action: pipeline.Block, rule: "ip:default", kind: "ip_not_allowed", msg: "matched no allow rule"},
		}},
		{"reputation files", `protect:
  ip_rules:
    - {name: spamhaus, action: deny, files: ["{{DIR}}/drop.txt"]}
    - {name: firehol, action: deny, files: ["{{DIR}}/firehol.netset", "{{DIR}}/drop.txt"]}
`, []want{
			{ip: "1.10.20.1", action: pipeline.Block, rule: "spamhaus", kind: "ip_reputation", msg: "client address is in 1.10.16.0/20 (" + dir + "/drop.txt line 2)"},
			{ip: "2001:db8:bad::9", action: pipeline.Block, rule: "spamhaus", kind: "ip_reputation", msg: "2001:db8:bad::/48 (" + dir + "/drop.txt line 3)"},
			{ip: "198.51.100.7", action: pipeline.Block, rule: "firehol", kind: "ip_reputation", msg: "198.51.100.0/24 (" + dir + "/firehol.netset line 2)"},
			{ip: "1.10.32.1", action: pipeline.Allow},
		}},
		{"countries", `protect:
  geoip: {database: "{{DIR}}/country.mmdb"}
  ip_rules:
    - {name: partners, action: allow, cidrs: [81.2.69.7]}
    - {name: embargo, action: deny, countries: [kp, RU, GB]}
`, []want{
			{ip: "175.45.176.1", action: pipeline.Block, rule: "embargo", kind: "country_denied", msg: "client address is in country KP"},
			{ip: "2a02:ff40::1", action: pipeline.Block, rule: "embargo", kind: "country_denied", msg: "country RU"},
			{ip: "::ffff:81.2.69.1", action: pipeline.Block, rule: "embargo", kind: "country_denied", msg: "country GB"},
			{ip: "81.2.69.7", action: pipeline.Allow}, // allowed before the country rule
			{ip: "8.8.8.8", action: pipeline.Allow},   // not in the database
			{ip: "10.0.0.1", action: pipeline.Allow},
		}},
		{"log and monitor rules record and go on", `protect:
  ip_rules:
    - {name: watch, action: log, cidrs: [192.0.2.0/24]}
    - {name: trial, action: deny, mode: monitor, files: ["{{DIR}}/firehol.netset"]}
    - {name: block, action: deny, cidrs: [192.0.2.128/25, 198.51.100.128/25]}
`, []want{
			{ip: "192.0.2.1", action: pipeline.Allow, extra: []string{"watch ip_listed log false"}},
			{ip: "192.0.2.200", action: pipeline.Block, rule: "block", kind: "ip_denied", extra: []string{"watch ip_listed log false"}},
			{ip: "198.51.100.1", action: pipeline.Allow, extra: []string{"trial ip_reputation block true"}},
			{ip: "198.51.100.200", action: pipeline.Block, rule: "block", extra: []string{"trial ip_reputation block true"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, dir, tc.yaml, Options{Log: quiet})
			for _, w := range tc.cases {
				o := run(s, w.ip)
				v := o.v
				if v.Action != w.action || v.RuleID != w.rule || (w.kind != "" && v.Kind != w.kind) || !strings.Contains(v.Message, w.msg) {
					t.Errorf("%s: %v %q %q %q, want %v %q %q %q", w.ip, v.Action, v.RuleID, v.Kind, v.Message, w.action, w.rule, w.kind, w.msg)
				}
				if v.Action == pipeline.Block && (v.HTTPStatus() != 403 || v.Severity != "high") {
					t.Errorf("%s: status %d severity %q", w.ip, v.HTTPStatus(), v.Severity)
				}
				var extra []string
				for _, f := range o.findings {
					if f.Layer != "ip" || f.Stage != "ip_rules" || f.Message == "" {
						t.Errorf("%s: finding %+v", w.ip, f)
					}
					extra = append(extra, strings.Join([]string{f.RuleID, f.Kind, f.Action, map[bool]string{true: "true", false: "false"}[f.WouldBlock]}, " "))
				}
				if strings.Join(extra, ",") != strings.Join(w.extra, ",") {
					t.Errorf("%s: findings %q, want %q", w.ip, extra, w.extra)
				}
			}
		})
	}
}

func TestNoStage(t *testing.T) {
	for _, y := range []string{"protect: {}", "protect: {ip_rules: {}}", "protect: {ip_rules: []}", "protect: {ip_rules: {allow: [], deny: []}}"} {
		cfg, err := config.Parse([]byte(y), "v.yaml")
		if err != nil {
			t.Fatalf("%s: %v", y, err)
		}
		if st, err := New(cfg.Protect.IPRules); st != nil || err != nil {
			t.Errorf("%s: %v %v, want no stage", y, st, err)
		}
	}
	// A config built in code, without Parse.
	var r config.IPRules = []config.IPRule{{Action: "deny", CIDRs: []string{"192.0.2.0/24"}}}
	st, err := New(&r)
	if err != nil || st == nil {
		t.Fatalf("%v %v", st, err)
	}
	if o := run(st.(*Stage), "192.0.2.1"); o.v.Action != pipeline.Block || o.v.RuleID != "ip:0" {
		t.Errorf("%+v", o.v)
	}
	r = []config.IPRule{{Action: "deny", CIDRs: []string{"nonsense"}}}
	if _, err := New(&r); err == nil || !strings.Contains(err.Error(), `protect.ip_rules[0].cidrs[0]: "nonsense" is not an IP address or CIDR`) {
		t.Errorf("bad CIDR: %v", err)
	}
}
