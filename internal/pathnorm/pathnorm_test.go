package pathnorm

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	keep := Options{EscapedSlashes: Keep}
	decode := Options{EscapedSlashes: DecodeAndForward}
	ci := Options{CaseInsensitive: true}
	cases := []struct {
		name string
		in   string
		o    Options
		want string // "" when an error is expected
		ch   Changes
		err  error
	}{
		{"root", "/", Options{}, "/", 0, nil},
		{"canonical", "/api/v1/users/42", Options{}, "/api/v1/users/42", 0, nil},
		{"trailing slash kept", "/login/", Options{}, "/login/", 0, nil},
		{"sub-delims and matrix params left alone", "/a;jsessionid=1/b:c@d!$&'()*+,=", Options{}, "/a;jsessionid=1/b:c@d!$&'()*+,=", 0, nil},
		{"reserved escape kept", "/users/alice%20b", Options{}, "/users/alice%20b", 0, nil},
		{"case kept by default", "/Login", Options{}, "/Login", 0, nil},

		{"double slash", "//login", Options{}, "/login", MergedSlashes, nil},
		{"many slashes", "/a///b////", Options{}, "/a/b/", MergedSlashes, nil},
		{"dot segment", "/./login", Options{}, "/login", RemovedDotSegments, nil},
		{"dot-dot segment", "/x/../login", Options{}, "/login", RemovedDotSegments, nil},
		{"trailing dot", "/login/.", Options{}, "/login/", RemovedDotSegments, nil},
		{"trailing dot-dot", "/a/b/..", Options{}, "/a/", RemovedDotSegments, nil},
		{"RFC 5.2.4 example", "/a/b/c/./../../g", Options{}, "/a/g", RemovedDotSegments, nil},
		{"RFC 5.2.4 example 2", "/mid/content=5/../6", Options{}, "/mid/6", RemovedDotSegments, nil},
		{"dots inside names are data", "/a/.b/..c/...", Options{}, "/a/.b/..c/...", 0, nil},
		{"slashes merged before dots", "/a//../b", Options{}, "/b", MergedSlashes | RemovedDotSegments, nil},
		{"encoded dots", "/x/%2e%2e/login", Options{}, "/login", DecodedUnreserved | RemovedDotSegments, nil},
		{"mixed dots", "/x/.%2E/login", Options{}, "/login", DecodedUnreserved | RemovedDotSegments, nil},
		{"unreserved decoded", "/%6cogin", Options{}, "/login", DecodedUnreserved, nil},
		{"tilde decoded", "/%7Euser", Options{}, "/~user", DecodedUnreserved, nil},
		{"hex upper-cased", "/a%2fb", keep, "/a%2Fb", UppercasedEscape, nil},
		{"hex upper-cased reserved", "/a%3fb", Options{}, "/a%3Fb", UppercasedEscape, nil},
		{"raw bytes escaped", "/a b\"<>|^`{}[]#", Options{}, "/a%20b%22%3C%3E%7C%5E%60%7B%7D%5B%5D%23", EscapedRaw, nil},
		{"raw UTF-8 escaped", "/caf\xc3\xa9", Options{}, "/caf%C3%A9", EscapedRaw, nil},
		{"encoded UTF-8 kept", "/caf%C3%A9/%E0%A4%B9", Options{}, "/caf%C3%A9/%E0%A4%B9", 0, nil},

		{"above root", "/../x", Options{}, "", 0, ErrAboveRoot},
		{"encoded above root", "/%2e%2e/login", Options{}, "", 0, ErrAboveRoot},
		{"above root later", "/a/../../x", Options{}, "", 0, ErrAboveRoot},
		{"only dot-dot", "/..", Options{}, "", 0, ErrAboveRoot},
		{"NUL raw", "/a\x00b", Options{}, "", 0, ErrControl},
		{"NUL encoded", "/a%00b", Options{}, "", 0, ErrControl},
		{"newline encoded", "/a%0Ab", Options{}, "", 0, ErrControl},
		{"DEL raw", "/a\x7f", Options{}, "", 0, ErrControl},
		{"bad escape", "/a%zz", Options{}, "", 0, ErrBadEscape},
		{"cut escape", "/a%4", Options{}, "", 0, ErrBadEscape},
		{"not absolute", "login", Options{}, "", 0, ErrNotAbsolute},
		{"empty", "", Options{}, "", 0, ErrNotAbsolute},
		{"overlong dot", "/%c0%ae%c0%ae/login", Options{}, "", 0, ErrOverlong},
		{"overlong slash", "/a%C0%AFb", keep, "", 0, ErrOverlong},
		{"overlong three-byte", "/%E0%80%AE", Options{}, "", 0, ErrOverlong},
		{"overlong four-byte", "/%F0%80%80%AE", Options{}, "", 0, ErrOverlong},
		{"raw overlong", "/\xc0\xae", Options{}, "", 0, ErrOverlong},
		{"double-encoded dot", "/%252e%252e/login", Options{}, "", 0, ErrDoubleEncoded},
		{"double-encoded dot built by decoding", "/%25%32%65", Options{}, "", 0, ErrDoubleEncoded},
		{"double-encoded NUL", "/a%2500", Options{}, "", 0, ErrDoubleEncoded},
		{"double-encoded slash rejected", "/a%252Fb", Options{}, "", 0, ErrDoubleEncoded},
		{"double-encoded slash kept with keep", "/a%252fb", keep, "/a%252fb", 0, nil},
		{"literal percent kept", "/100%25", Options{}, "/100%25", 0, nil},

		{"encoded slash rejected", "/admin%2f..%2flogin", Options{}, "", 0, ErrEscapedSlash},
		{"encoded backslash rejected", "/a%5Cb", Options{}, "", 0, ErrEscapedSlash},
		{"raw backslash rejected", "/\\login", Options{}, "", 0, ErrEscapedSlash},
		{"encoded slash kept", "/admin%2F..%2Flogin", keep, "/admin%2F..%2Flogin", 0, nil},
		{"raw backslash kept as data", "/a\\b", keep, "/a%5Cb", EscapedRaw, nil},
		{"encoded slash decoded", "/admin%2f..%2flogin", decode, "/login", DecodedSlashes | RemovedDotSegments, nil},
		{"backslashes decoded", "/a\\..\\login%5c", decode, "/login/", DecodedSlashes | RemovedDotSegments, nil},
		{"decoded slashes merged", "/a%2F%2Fb", decode, "/a/b", DecodedSlashes | MergedSlashes, nil},

		{"case-insensitive lowers", "/LOGIN/%4C", ci, "/login/l", Lowercased | DecodedUnreserved, nil},
		{"case-insensitive keeps hex upper", "/a%3Fb", ci, "/a%3Fb", 0, nil},
		{"case-insensitive lowercase path canonical", "/login", ci, "/login", 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ch, err := Normalize(tc.in, tc.o)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Normalize(%q) = %q, %v; want error %v", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want || ch != tc.ch {
				t.Fatalf("Normalize(%q) = %q, %s, %v; want %q, %s", tc.in, got, ch, err, tc.want, tc.ch)
			}
			if (ch == 0) != (got == tc.in) {
				t.Fatalf("changes %s but output %q vs input %q", ch, got, tc.in)
			}
		})
	}
}

func TestParseSlashAction(t *testing.T) {
	for in, want := range map[string]SlashAction{"": Reject, "reject": Reject, "keep": Keep, "decode_and_forward": DecodeAndForward} {
		if got, err := ParseSlashAction(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
		if in != "" && want.String() != in {
			t.Errorf("String() = %q, want %q", want.String(), in)
		}
	}
	if _, err := ParseSlashAction("decode"); err == nil || !strings.Contains(err.Error(), "reject, keep, decode_and_forward") {
		t.Errorf("bad action: %v", err)
	}
}

func TestChangesString(t *testing.T) {
	if s := (MergedSlashes | RemovedDotSegments).String(); s != "merged_slashes,removed_dot_segments" {
		t.Errorf("%q", s)
	}
	if s := Changes(0).String(); s != "" {
		t.Errorf("%q", s)
	}
}

func TestHost(t *testing.T) {
	for _, tc := range []struct {
		in    string
		https bool
		want  string
	}{
		{"a.example", false, "a.example"},
		{"A.Example", false, "a.example"},
		{"a.example.", false, "a.example"},
		{"a.example:80", false, "a.example"},
		{"a.example:80", true, "a.example:80"},
		{"a.example:443", true, "a.example"},
		{"a.example:443", false, "a.example:443"},
		{"A.EXAMPLE.:0080", false, "a.example"},
		{"a.example:8080", false, "a.example:8080"},
		{"a.example:", false, "a.example"},
		{"[::1]:443", true, "[::1]"},
		{"[::1]:8443", true, "[::1]:8443"},
		{"[::1]", false, "[::1]"},
		{"[FE80::1]:80", false, "[fe80::1]"},
		{"::1", false, "::1"},
		{"127.0.0.1:80", false, "127.0.0.1"},
		{"", false, ""},
		{".", false, "."},
	} {
		if got := Host(tc.in, tc.https); got != tc.want {
			t.Errorf("Host(%q, %v) = %q, want %q", tc.in, tc.https, got, tc.want)
		}
		if got := Host(Host(tc.in, tc.https), tc.https); got != tc.want {
			t.Errorf("Host not idempotent on %q: %q", tc.in, got)
		}
	}
}

func TestNoAllocationWhenCanonical(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/users/42", "/users/alice%20b", "/caf%C3%A9/", "/a;b=c/d:e@f"} {
		if n := testing.AllocsPerRun(100, func() { _, _, _ = Normalize(p, Options{}) }); n != 0 {
			t.Errorf("Normalize(%q) allocates %v times", p, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Host("shop.example:8080", false) }); n != 0 {
		t.Errorf("Host allocates %v times", n)
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"canonical", "/api/v1/users/42/orders"},
		{"canonical_escaped", "/files/caf%C3%A9%20menu.pdf"},
		{"dot_segments", "/api/v1/./users/../users//42/orders"},
		{"encoded", "/api/v1/%75sers/42/%6Frders"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Normalize(bc.path, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzNormalize: whatever the input, an accepted path is a fixed point
// (normalizing it again changes nothing), starts with /, holds no empty or
// dot segment and never climbs above the root; canonical and normalize
// agree.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "//login", "/./login", "/x/../login", "/%2e%2e/login", "/admin%2f..%2flogin",
		"/%252e", "/.%2e/", "/login/.", "/%c0%ae", "/\\", "/a%00", "/A/b%7e", "/a b", "/%25%32%65", "/%E0%80%AE", "/a/./b/../../c",
		"/caf\xc3\xa9", "/a;b/..;/c"} {
		for a := range 3 {
			f.Add(s, uint8(a), a == 1)
		}
	}
	f.Fuzz(func(t *testing.T, p string, action uint8, ci bool) {
		o := Options{EscapedSlashes: SlashAction(action % 3), CaseInsensitive: ci}
		out, ch, err := Normalize(p, o)
		if err != nil {
			return
		}
		if (ch == 0) != (out == p) {
			t.Fatalf("%q → %q with changes %q", p, out, ch)
		}
		again, ch2, err := Normalize(out, o)
		if err != nil || again != out || ch2 != 0 {
			t.Fatalf("not idempotent: %q → %q → %q (%s, %v)", p, out, again, ch2, err)
		}
		if !canonical(out, o) {
			t.Fatalf("output %q is not canonical", out)
		}
		if out[0] != '/' || strings.Contains(out, "//") || strings.Contains(out, "/./") || strings.Contains(out, "/../") ||
			strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/..") {
			t.Fatalf("%q → %q has an empty or dot segment", p, out)
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x21 || c >= 0x7f || c == '\\' {
				t.Fatalf("%q → %q has raw byte %#x", p, out, c)
			}
		}
		if o.EscapedSlashes != Keep && (strings.Contains(strings.ToUpper(out), "%2F") || strings.Contains(strings.ToUpper(out), "%5C")) {
			t.Fatalf("%q → %q keeps an encoded slash with %s", p, out, o.EscapedSlashes)
		}
		// Never above the root: count the depth segment by segment.
		depth := 0
		for s := range strings.SplitSeq(out[1:], "/") {
			if s == ".." {
				depth--
			} else if s != "" {
				depth++
			}
			if depth < 0 {
				t.Fatalf("%q → %q climbs above the root", p, out)
			}
		}
	})
}
