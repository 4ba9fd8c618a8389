package mmdbtest

import (
	"net/netip"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

func TestCountriesReadBack(t *testing.T) {
	b, err := Countries([]Network{
		{netip.MustParsePrefix("81.2.69.0/24"), "GB"},
		{netip.MustParsePrefix("81.2.69.128/25"), "IE"},
		{netip.MustParsePrefix("2001:db8::/32"), "DE"},
		{netip.MustParsePrefix("10.0.0.0/8"), ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, tc := range []struct{ ip, want string }{
		{"81.2.69.1", "GB"}, {"81.2.69.200", "IE"}, {"::ffff:81.2.69.1", "GB"},
		{"2001:db8::1", "DE"}, {"10.1.1.1", ""}, {"192.0.2.1", ""}, {"2001:db9::1", ""},
	} {
		var code string
		if err := r.Lookup(netip.MustParseAddr(tc.ip)).DecodePath(&code, "country", "iso_code"); err != nil {
			t.Fatal(err)
		}
		if code != tc.want {
			t.Errorf("%s: %q, want %q", tc.ip, code, tc.want)
		}
	}
}
