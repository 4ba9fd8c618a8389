package iprules

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

func TestIPRules(t *testing.T) {
	st, err := New(&config.IPRules{Allow: []string{"10.0.0.0/8", "2001:db8::/32"}, Deny: []string{"10.6.6.0/24", "10.0.0.9"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want pipeline.Action
		rule string
	}{
		{"10.1.2.3", pipeline.Allow, ""},
		{"10.6.6.7", pipeline.Block, "ip_rules.deny"},
		{"10.0.0.9", pipeline.Block, "ip_rules.deny"},
		{"192.0.2.1", pipeline.Block, "ip_rules.allow"},
		{"2001:db8::1", pipeline.Allow, ""},
		{"2001:db9::1", pipeline.Block, "ip_rules.allow"},
	} {
		tx := pipeline.NewTxn(httptest.NewRequest("GET", "/", nil), testNow, "")
		tx.ClientIP = netip.MustParseAddr(tc.ip)
		v, err := st.Request(context.Background(), tx)
		if err != nil || v.Action != tc.want || v.RuleID != tc.rule {
			t.Errorf("%s: %+v %v, want %v %q", tc.ip, v, err, tc.want, tc.rule)
		}
		if v.Action == pipeline.Block && v.HTTPStatus() != 403 {
			t.Errorf("%s: status %d", tc.ip, v.HTTPStatus())
		}
	}
	if s, _ := New(nil); s != nil {
		t.Error("no rules should mean no stage")
	}
	if _, err := New(&config.IPRules{Deny: []string{"nonsense"}}); err == nil {
		t.Error("bad CIDR accepted")
	}
}
