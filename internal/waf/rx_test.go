package waf

import (
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
)

// The @rx operator on RE2 keeps Coraza's semantics: captures into TX.0..,
// case flags, dot-all, multiline anchors, and Go's regexp for values that
// are not UTF-8 (RE2 would stop at the invalid byte).
func TestRXSemantics(t *testing.T) {
	e := build(t, &config.WAF{Directives: `
SecRule ARGS:v "@rx ^id-(\d+)-(\w+)$" "id:100201,phase:2,capture,deny,status:403,msg:'got %{TX.1}/%{TX.2}',logdata:'%{TX.0}'"
SecRule ARGS:ci "@rx (?i)select.+from" "id:100202,phase:2,deny,status:403,msg:'case'"
SecRule ARGS:dot "@rx a.b" "id:100203,phase:2,deny,status:403,msg:'dotall'"
SecRule ARGS:ml "@rx ^drop$" "id:100204,phase:2,deny,status:403,msg:'multiline'"
SecRule ARGS:bin "@rx \xff\xfe" "id:100205,phase:2,deny,status:403,msg:'bytes'"
SecRule ARGS:u "@rx evil" "id:100206,phase:2,deny,status:403,msg:'after invalid utf-8'"
`})
	for _, c := range []struct {
		name, query string
		want        int
		msg         string
	}{
		{"capture", "v=id-42-abc", 100201, "got 42/abc"},
		{"no capture match", "v=id-x-abc", 0, ""},
		{"case flag", "ci=SeLeCt+a+FROM+b", 100202, "case"},
		{"dot matches newline", "dot=a%0Ab", 100203, "dotall"},
		{"multiline anchors", "ml=keep%0Adrop%0Ame", 100204, "multiline"},
		{"byte pattern", "bin=%FF%FE", 100205, "bytes"},
		{"invalid utf-8 before the payload", "u=%FF%FEevil", 100206, "after invalid utf-8"},
		{"benign", "u=good&v=id&ci=select", 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, fs := run(e, req("GET", "/x?"+c.query, "", ""))
			if id != c.want {
				t.Fatalf("interrupted by %d, want %d (%v)", id, c.want, ruleIDs(fs))
			}
			if c.msg != "" && !slices.ContainsFunc(fs, func(f event.Finding) bool { return f.Message == c.msg }) {
				t.Errorf("no finding with message %q: %+v", c.msg, fs)
			}
		})
	}
}
