package guard

import (
	"net/netip"
	"strings"
	"testing"
)

func defaultChecker(t testing.TB, allow ...string) *Checker {
	t.Helper()
	c, err := NewChecker(Options{Classes: AllClasses(), Schemes: DefaultSchemes, AllowHosts: allow})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestValueEvasions: every spelling of an internal destination an
// attacker might put in a parameter is classified, in a plain field.
func TestValueEvasions(t *testing.T) {
	c := defaultChecker(t)
	cases := []struct {
		in    string
		class Class
		host  string
	}{
		{"http://169.254.169.254/latest/meta-data/", Metadata, "169.254.169.254"},
		{"http://169.254.170.2/v2/credentials", Metadata, "169.254.170.2"},
		{"http://[fd00:ec2::254]/latest/meta-data/", Metadata, "fd00:ec2::254"},
		{"http://metadata.google.internal/computeMetadata/v1/", Metadata, "metadata.google.internal"},
		{"http://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/", Metadata, "metadata.google.internal"},
		{"http://100.100.100.200/latest/meta-data/", Metadata, "100.100.100.200"},
		{"http://[::ffff:a9fe:a9fe]/computeMetadata/v1/", Metadata, "::ffff:169.254.169.254"},
		{"http://127.0.0.1:2375/containers/json", Loopback, "127.0.0.1"},
		{"http://localhost/", Loopback, "localhost"},
		{"http://admin.localhost:8080/", Loopback, "admin.localhost"},
		{"http://2130706433/", Loopback, "127.0.0.1"},
		{"http://0x7f000001/", Loopback, "127.0.0.1"},
		{"http://0x7f.1/", Loopback, "127.0.0.1"},
		{"http://0177.0.0.1/", Loopback, "127.0.0.1"},
		{"http://127.1/", Loopback, "127.0.0.1"},
		{"http://017700000001/", Loopback, "127.0.0.1"},
		{"http://0251.0376.0251.0376/", Metadata, "169.254.169.254"},
		{"http://[::1]/", Loopback, "::1"},
		{"http://[0:0:0:0:0:0:0:1]:8080/", Loopback, "::1"},
		{"http://[::ffff:127.0.0.1]/", Loopback, "::ffff:127.0.0.1"},
		{"http://[::127.0.0.1]/", Loopback, "::7f00:1"},
		{"http://[64:ff9b::7f00:1]/", Loopback, "64:ff9b::7f00:1"},
		{"http://[64:ff9b::a9fe:a9fe]/", Metadata, "64:ff9b::a9fe:a9fe"},
		{"http://[2002:7f00:1::]/", Loopback, "2002:7f00:1::"},
		{"http://[fe80::1%25eth0]/", LinkLocal, "fe80::1"},
		{"http://[fe80::1%eth0]/", LinkLocal, "fe80::1"},
		{"http://0.0.0.0:6379/", Unspecified, "0.0.0.0"},
		{"http://0/", Unspecified, "0.0.0.0"},
		{"http://[::]/", Unspecified, "::"},
		{"http://10.0.0.7/admin", Private, "10.0.0.7"},
		{"http://172.31.255.1/", Private, "172.31.255.1"},
		{"http://192.168.1.1/", Private, "192.168.1.1"},
		{"http://[fc00::1]/", Private, "fc00::1"},
		{"http://[fd12:3456::1]/", Private, "fd12:3456::1"},
		{"http://100.64.0.1/", CGNAT, "100.64.0.1"},
		{"http://169.254.1.1/", LinkLocal, "169.254.1.1"},
		{"http://good.com@127.0.0.1/", Loopback, "127.0.0.1"},
		{"http://user:pass@good.com@10.0.0.1/", Private, "10.0.0.1"},
		{`http://good.com\@127.0.0.1/`, Loopback, "127.0.0.1"},
		{`http:\\127.0.0.1\`, Loopback, "127.0.0.1"},
		{`http:/\127.0.0.1/`, Loopback, "127.0.0.1"},
		{"http:127.0.0.1/", Loopback, "127.0.0.1"},
		{"HTTP://127.0.0.1/", Loopback, "127.0.0.1"},
		{"  http://127.0.0.1/  ", Loopback, "127.0.0.1"},
		{"ht\ttp://127.0.0.1/", Loopback, "127.0.0.1"},
		{"http://%31%32%37.0.0.1/", Loopback, "127.0.0.1"},
		{"http://１２７．０．０．１/", Loopback, "127.0.0.1"},
		{"http://127.0.0.1.nip.io/", Disguised, "127.0.0.1.nip.io"},
		{"http://app.10.0.0.1.sslip.io/", Disguised, "app.10.0.0.1.sslip.io"},
		{"http://ip-10-0-0-1.sslip.io/", Disguised, "ip-10-0-0-1.sslip.io"},
		{"http://7f000001.nip.io/", Disguised, "7f000001.nip.io"},
		{"http://7f000001.c0a80001.rbndr.us/", Disguised, "7f000001.c0a80001.rbndr.us"},
		{"http://foo.localtest.me/", Disguised, "foo.localtest.me"},
		{"http://redis:6379/", InternalName, "redis"},
		{"http://billing.internal/", InternalName, "billing.internal"},
		{"http://api.default.svc/", InternalName, "api.default.svc"},
		{"//127.0.0.1/x", Loopback, "127.0.0.1"},
		{`\\127.0.0.1\share`, Loopback, "127.0.0.1"},
		{"ftp://10.1.2.3/pub", Private, "10.1.2.3"},
		{"redis://127.0.0.1:6379", Loopback, "127.0.0.1"},
		{"gopher://127.0.0.1:6379/_SET", Scheme, "127.0.0.1"},
		{"gopher://example.com/", Scheme, "example.com"},
		{"file:///etc/passwd", Scheme, ""},
		{"FILE:/etc/passwd", Scheme, ""},
		{"dict://127.0.0.1:11211/stats", Scheme, "127.0.0.1"},
		{"ldap://10.0.0.1/", Scheme, "10.0.0.1"},
		// Bare hosts in a plain field: only unmistakable spellings.
		{"127.0.0.1", Loopback, "127.0.0.1"},
		{"127.0.0.1:8080", Loopback, "127.0.0.1"},
		{"169.254.169.254/latest", Metadata, "169.254.169.254"},
		{"::1", Loopback, "::1"},
		{"[::ffff:127.0.0.1]:80", Loopback, "::ffff:127.0.0.1"},
		{"localhost:6379", Loopback, "localhost"},
		{"metadata.google.internal", Metadata, "metadata.google.internal"},
		{"127.0.0.1.nip.io", Disguised, "127.0.0.1.nip.io"},
	}
	for _, tc := range cases {
		h, ok := c.Value(tc.in, Plain)
		if !ok || h.Class != tc.class || h.Host != tc.host {
			t.Errorf("Value(%q) = %+v %v, want class %s host %q", tc.in, h, ok, tc.class, tc.host)
		}
	}
}

// TestValueBenign: ordinary values are not findings, in any field.
func TestValueBenign(t *testing.T) {
	c := defaultChecker(t)
	for _, in := range []string{
		"https://example.com/cb", "https://hooks.slack.com/services/T000/B000/XXXX", "http://8.8.8.8/",
		"https://[2606:4700::1111]/", "https://example.com@evil.example/", "socks", "red socks", "12.50", "10.5",
		"2024-01-17", "12:30:45", "00:1a:2b:3c:4d:5e", "1.2.3", "v10.0.0", "bob@localhost", "mailto:bob@10.0.0.1",
		"urn:isbn:0451450523", "see http://127.0.0.1 for details", "/products/42", "https://example.com/?next=http://127.0.0.1/",
		"https://www.nip.io.example.com/", "https://deadbeef.example.com/", "2130706433", "localhostname", "data:text/plain,hi",
		"javascript:alert(1)", "https://1.1.1.1/dns-query", "100.128.0.1", "https://example.local.example.com/",
	} {
		if h, ok := c.Value(in, Plain); ok {
			t.Errorf("Value(%q) = %+v, want no finding", in, h)
		}
	}
}

// TestValueLevels: a field named for URLs reads every IPv4 spelling; a
// listed field reads single-label names too.
func TestValueLevels(t *testing.T) {
	c := defaultChecker(t)
	cases := []struct {
		in    string
		lvl   Level
		class Class // None: no finding
	}{
		{"2130706433", Plain, None},
		{"2130706433", Hinted, Loopback},
		{"0x7f.1", Plain, None},
		{"0x7f.1", Hinted, Loopback},
		{"0177.0.0.1", Hinted, Loopback},
		{"billing.internal", Plain, None},
		{"billing.internal", Hinted, InternalName},
		{"redis", Hinted, None},
		{"redis:6379", Listed, InternalName},
		{"example.com", Listed, None},
		{"admin@10.0.0.1", Hinted, Private},
	}
	for _, tc := range cases {
		h, ok := c.Value(tc.in, tc.lvl)
		if ok != (tc.class != None) || h.Class != tc.class {
			t.Errorf("Value(%q, level %d) = %+v %v, want %s", tc.in, tc.lvl, h, ok, tc.class)
		}
	}
}

func TestAllowHosts(t *testing.T) {
	c := defaultChecker(t, "hooks.internal", "*.corp.example", "10.20.0.0/16", "127.0.0.1")
	for _, in := range []string{"http://hooks.internal/x", "http://a.b.corp.example/", "http://10.20.3.4/", "http://127.0.0.1/", "http://[::ffff:127.0.0.1]/"} {
		if h, ok := c.Value(in, Plain); ok {
			t.Errorf("allowed %q: got %+v", in, h)
		}
	}
	for _, in := range []string{"http://other.internal/", "http://10.21.0.1/", "http://127.0.0.2/"} {
		if _, ok := c.Value(in, Plain); !ok {
			t.Errorf("%q is not allowed but was not flagged", in)
		}
	}
	for _, bad := range []string{"", "*.a.*", "10.0.0.0/40", "a b"} {
		if err := CheckAllowHost(bad); err == nil {
			t.Errorf("CheckAllowHost(%q): no error", bad)
		}
	}
}

func TestClassSelection(t *testing.T) {
	var set ClassSet
	set.Add(Metadata)
	c, err := NewChecker(Options{Classes: set})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Value("http://127.0.0.1/", Plain); ok {
		t.Error("loopback flagged although only metadata is selected")
	}
	if _, ok := c.Value("file:///etc/passwd", Plain); ok {
		t.Error("file scheme flagged although the scheme class is off")
	}
	if h, ok := c.Value("http://169.254.169.254/", Plain); !ok || h.Class != Metadata {
		t.Errorf("metadata: %+v %v", h, ok)
	}
	for _, n := range ClassNames() {
		if cl, ok := ParseClass(n); !ok || cl.String() != n {
			t.Errorf("class %q does not round-trip", n)
		}
	}
}

func TestParseIPv4(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": "127.0.0.1", "2130706433": "127.0.0.1", "0x7f.0.0.1": "127.0.0.1", "0x7F000001": "127.0.0.1",
		"127.1": "127.0.0.1", "127.0.1": "127.0.0.1", "0": "0.0.0.0", "10.": "0.0.0.10", "4294967295": "255.255.255.255",
	} {
		b, ok := ParseIPv4(in)
		if !ok || netip.AddrFrom4(b).String() != want {
			t.Errorf("ParseIPv4(%q) = %v %v, want %s", in, b, ok, want)
		}
	}
	for _, in := range []string{"", "256.0.0.1", "4294967296", "1.2.3.4.5", "08.0.0.1", "0x", "a.b.c.d", "1..2", "1.2.3.256", "1.16777216"} {
		if b, ok := ParseIPv4(in); ok && in != "0x" {
			t.Errorf("ParseIPv4(%q) = %v, want failure", in, b)
		}
	}
}

func TestHostHint(t *testing.T) {
	for _, n := range []string{"callback", "webhook_url", "redirectUri", "imageURL", "target_host", "IP", "dest"} {
		if !HostHint(n) {
			t.Errorf("HostHint(%q) = false", n)
		}
	}
	for _, n := range []string{"q", "name", "quantity", "zip", "description", "shipping"} {
		if HostHint(n) {
			t.Errorf("HostHint(%q) = true", n)
		}
	}
}

func FuzzValue(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1/", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/", `http://a\@10.0.0.1/`,
		"http://%31%32%37.0.0.1/", "gopher://x", "//[fe80::1%25lo]", "127.0.0.1.nip.io", "ip-10-0-0-1.sslip.io", "１２７．０．０．１",
		"https://example.com/cb", "http://[", "http://@", "http://:80", "0177.0.0.1", "\\\\\\\\"} {
		f.Add(s, uint8(0))
	}
	c := defaultChecker(f)
	f.Fuzz(func(t *testing.T, s string, lvl uint8) {
		h, ok := c.Value(s, Level(lvl%3))
		if ok && h.Class == None {
			t.Fatalf("hit without a class: %q", s)
		}
		if ok && strings.Contains(h.Host, "@") {
			t.Fatalf("host %q keeps userinfo", h.Host)
		}
		// Host classification of any string must not panic either.
		_ = ClassifyHost(s)
	})
}
