package logs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/pathnorm"
)

// TestCanonicalPaths: every text format and HAR count a path the way the
// gateway does (/a//b, /a/./b and /a/%62 are /a/b), never refuse a line,
// never decode %2F, and keep a path the gateway would refuse as logged.
func TestCanonicalPaths(t *testing.T) {
	cases := []struct{ raw, want string }{
		{"/a/b", "/a/b"},
		{"/a//b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/x/../b", "/a/b"},
		{"/a/%62", "/a/b"},
		{"//a/b/", "/a/b/"},
		{"/.well-known/x", "/.well-known/x"},
		{"/files/a%2fb", "/files/a%2Fb"},                        // encoded slashes stay data
		{"/files/a%2F..%2Fb", "/files/a%2F..%2Fb"},              // and so are not separators
		{"/win\\path", "/win%5Cpath"},                           // a backslash too
		{"/../etc/passwd", "/../etc/passwd"},                    // refused by the gateway: kept as logged
		{"/a%00b", "/a%00b"},                                    // the same
		{"/%c0%ae%c0%ae/x", "/%c0%ae%c0%ae/x"},                  // the same
		{"/users/alice%20b", "/users/alice%20b"},                // already canonical
		{"/caf%c3%a9/./menu", "/caf%C3%A9/menu"},                // hex upper-cased when rewritten
		{"/x/..//y/.%2e/z", "/z"},                               // mixed
		{"/products/42/./reviews//7", "/products/42/reviews/7"}, // past the first eight bytes
	}
	var clf, envoy, har strings.Builder
	har.WriteString(`{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[`)
	for i, c := range cases {
		fmt.Fprintf(&clf, "10.0.0.1 - - [31/Jan/2024:12:00:01 +0100] \"GET %s?q=1 HTTP/1.1\" 200 5 \"-\" \"ua\"\n", strings.ReplaceAll(c.raw, `\`, `\\`)) // Apache escapes a backslash
		fmt.Fprintf(&envoy, `{"start_time":"2024-01-31T12:00:01Z","method":"GET","path":%q,"protocol":"HTTP/1.1","response_code":200,"authority":"a"}`+"\n", c.raw+"?q=1")
		if i > 0 {
			har.WriteString(",")
		}
		fmt.Fprintf(&har, `{"startedDateTime":"2024-01-31T12:00:01Z","time":1,"request":{"method":"GET","url":%q,"httpVersion":"HTTP/1.1","headers":[],"queryString":[],"cookies":[],"headersSize":-1,"bodySize":0},"response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","headers":[],"cookies":[],"content":{"size":0,"mimeType":"text/plain"},"redirectURL":"","headersSize":-1,"bodySize":0},"cache":{},"timings":{"send":0,"wait":1,"receive":0}}`,
			"http://a.example"+c.raw+"?q=1")
	}
	har.WriteString("]}}")
	for _, in := range []struct{ format, data string }{
		{FormatCombined, clf.String()}, {FormatEnvoyJSON, envoy.String()}, {FormatHAR, har.String()},
	} {
		t.Run(in.format, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(in.data))
			if err != nil {
				t.Fatal(err)
			}
			if r.Format() != in.format {
				t.Fatalf("format %q", r.Format())
			}
			recs := readAll(t, r)
			if r.Broken() != 0 || len(recs) != len(cases) {
				t.Fatalf("%d records, %d broken; want %d, 0", len(recs), r.Broken(), len(cases))
			}
			for i, c := range cases {
				want := c.want
				if in.format == FormatHAR && strings.Contains(c.raw, "\\") {
					want = "" // net/url refuses the URL: HAR parsing decides on its own
				}
				if want != "" && (recs[i].Path != want || recs[i].Query != "q=1") {
					t.Errorf("%q: path %q query %q, want %q", c.raw, recs[i].Path, recs[i].Query, want)
				}
			}
		})
	}
}

// TestMayNormalize: the fast path never skips a path whose canonical form
// differs in a way discovery counts.
func TestMayNormalize(t *testing.T) {
	for _, p := range []string{"/a//b", "/a/./b", "/a/%62", "/a\\b", "/abcdefg//h", "/abcdef//gh", "/abcdefgh/.", "/abcdefghijklmn/.x", "//"} {
		if !mayNormalize(p) {
			t.Errorf("%q skipped", p)
		}
	}
	for _, p := range []string{"/", "/a/b", "/products/42/reviews", "/a.b/c.d", "/abcdefgh.ij/k", ""} {
		if mayNormalize(p) {
			t.Errorf("%q not skipped", p)
		}
	}
}

// FuzzMayNormalize: the word-at-a-time scan never misses what a byte loop
// finds, and a path it skips needs none of the rewrites that change what it
// counts as.
func FuzzMayNormalize(f *testing.F) {
	for _, s := range []string{"/a//b", "/abcdefg/.", "/products/42", "/a%2fb", "/x\\y", "/.well-known"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want := false
		for i := 0; i < len(p); i++ {
			if p[i] == '%' || p[i] == '\\' || p[i] == '/' && i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				want = true
				break
			}
		}
		got := mayNormalize(p)
		if want && !got {
			t.Fatalf("mayNormalize(%q) misses it", p)
		}
		if !got {
			_, ch, err := pathnorm.Normalize(p, pathnorm.Options{EscapedSlashes: pathnorm.Keep})
			if err == nil && ch&^pathnorm.EscapedRaw != 0 {
				t.Fatalf("%q skipped but normalization changes %s", p, ch)
			}
		}
	})
}
