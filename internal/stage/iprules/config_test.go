package iprules

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
)

// TestConfigErrors feeds bad ip_rules and expects the precise error: the
// file, the line of ip_rules, the field path and what is wrong.
func TestConfigErrors(t *testing.T) {
	dir := testdir(t)
	writeFile(t, filepath.Join(dir, "broken.txt"), "1.2.3.4\n# fine\n1.2.3.999 ; SBL9\n")
	for _, tc := range []struct{ yaml, want string }{
		{"protect:\n  ip_rules:\n    - {action: deny, cidr: [203.0.113.0/24]}\n",
			`vigil.yaml:2: protect.ip_rules[0].cidr: unknown field (did you mean "cidrs"?)`},
		{"protect:\n  ip_rules: {deny: [10.0.0.0/8, 10.0.0.0/33]}\n",
			`vigil.yaml:2: protect.ip_rules.deny[1]: "10.0.0.0/33" is not a CIDR`},
		{"protect:\n  ip_rules: {allow: [nonsense]}\n",
			`vigil.yaml:2: protect.ip_rules.allow[0]: "nonsense" is not an IP address or CIDR`},
		{"protect:\n  ip_rules: [{action: block, cidrs: [10.0.0.0/8]}]\n",
			`vigil.yaml:2: protect.ip_rules[0].action: "block" is not one of allow, deny, log`},
		{"protect:\n  ip_rules: [{cidrs: [10.0.0.0/8]}]\n",
			`vigil.yaml:2: protect.ip_rules[0].action: required: allow, deny or log`},
		{"protect:\n  ip_rules: [{action: deny}]\n",
			`vigil.yaml:2: protect.ip_rules[0]: a rule needs cidrs, files or countries`},
		{"protect:\n  ip_rules: [{action: allow, mode: monitor, cidrs: [10.0.0.0/8]}]\n",
			`vigil.yaml:2: protect.ip_rules[0].mode: monitor applies to deny rules (a allow rule never blocks)`},
		{"protect:\n  ip_rules: [{action: deny, mode: dry, cidrs: [10.0.0.0/8]}]\n",
			`vigil.yaml:2: protect.ip_rules[0].mode: "dry" is not one of enforce, monitor`},
		{"protect:\n  ip_rules:\n    - {name: a, action: deny, cidrs: [10.0.0.0/8]}\n    - {name: a, action: deny, cidrs: [11.0.0.0/8]}\n",
			`vigil.yaml:2: protect.ip_rules[1].name: "a" is already the name of protect.ip_rules[0]`},
		{"protect:\n  ip_rules: [{action: deny, countries: [CN]}]\n",
			`vigil.yaml:2: protect.ip_rules[0].countries: country rules need a database: set protect.geoip.database`},
		{"protect:\n  geoip: {database: {{DIR}}/country.mmdb}\n  ip_rules: [{action: deny, countries: [CHN]}]\n",
			`vigil.yaml:3: protect.ip_rules[0].countries[0]: "CHN" is not a two-letter ISO 3166-1 country code`},
		{"protect:\n  geoip: {database: {{DIR}}/none.mmdb}\n",
			`vigil.yaml:2: protect.geoip.database: stat {{DIR}}/none.mmdb: no such file or directory`},
		{"protect:\n  ip_rules: [{action: deny, files: [{{DIR}}/missing.txt]}]\n",
			`vigil.yaml:2: protect.ip_rules[0].files[0]: stat {{DIR}}/missing.txt: no such file or directory`},
		{"protect:\n  ip_rules: {rules: [{action: deny, cidrs: [10.0.0.0/8]}], default: block}\n",
			`vigil.yaml:2: protect.ip_rules.default: "block" is not one of allow, deny`},
		{"protect:\n  ip_rules: {rules: [{action: deny, cidrs: [10.0.0.0/8]}], max_file_bytes: lots}\n",
			`vigil.yaml:2: protect.ip_rules.max_file_bytes:`},
		{"protect:\n  ip_rules: {denny: [10.0.0.0/8]}\n",
			`vigil.yaml:2: protect.ip_rules.denny: unknown field (did you mean "deny"?)`},
		{"protect:\n  ip_rules: 203.0.113.0/24\n",
			`vigil.yaml:2: protect.ip_rules: expected a list of rules or a mapping (allow, deny, rules, default, max_file_bytes), got "203.0.113.0/24"`},
	} {
		y := strings.ReplaceAll(tc.yaml, "{{DIR}}", dir)
		want := strings.ReplaceAll(tc.want, "{{DIR}}", dir)
		_, err := config.Parse([]byte(y), "vigil.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\n got: %v\nwant: %s", y, err, want)
		}
	}
	// A list that does not parse is found when the stage is built (as
	// `vigil validate` and a reload do), with the list's line.
	cfg, err := config.Parse([]byte("protect:\n  ip_rules:\n    - {action: deny, files: ["+filepath.Join(dir, "broken.txt")+"]}\n"), "vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg.Protect.IPRules)
	want := "vigil.yaml:2: protect.ip_rules[0].files[0]: " + filepath.Join(dir, "broken.txt") + `:3: "1.2.3.999" is not an IP address or CIDR`
	if err == nil || err.Error() != want {
		t.Errorf("broken list:\n got: %v\nwant: %s", err, want)
	}
}

// TestBothShapesValidate: the list form and the mapping form,
// side by side with the other layers' keys.
func TestBothShapesValidate(t *testing.T) {
	for _, y := range []string{
		"protect:\n  ip_rules:\n    - {action: deny, cidrs: [203.0.113.0/24]}\n",
		"protect:\n  ip_rules: {deny: [203.0.113.0/24]}\n",
		"protect:\n  ip_rules:\n    allow: [10.0.0.0/8]\n    rules:\n      - {name: x, action: log, cidrs: [10.1.0.0/16]}\n    default: deny\n    max_file_bytes: 16MiB\n",
	} {
		cfg, err := config.Parse([]byte(y), "v.yaml")
		if err != nil {
			t.Errorf("%s: %v", y, err)
			continue
		}
		set, err := config.ResolveIPRules(cfg.Protect.IPRules)
		if err != nil || set == nil || len(set.Rules) == 0 {
			t.Errorf("%s: %+v %v", y, set, err)
		}
	}
}
