package pki

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSPIFFEID(t *testing.T) {
	long := func(n int) string { // an ID of exactly n bytes
		s := "spiffe://example.org/"
		return s + strings.Repeat("a", n-len(s))
	}
	tests := []struct {
		in     string
		td     string // "" when invalid
		path   string
		reason string // for invalid IDs: part of the error
	}{
		// Valid.
		{in: "spiffe://example.org/web", td: "example.org", path: "/web"},
		{in: "spiffe://example.org/ns/shop/sa/web", td: "example.org", path: "/ns/shop/sa/web"},
		{in: "spiffe://example.org", td: "example.org"},
		{in: "spiffe://a/b", td: "a", path: "/b"},
		{in: "spiffe://trust_domain-1.example.com/Path.With-All_Allowed.Chars09", td: "trust_domain-1.example.com", path: "/Path.With-All_Allowed.Chars09"},
		{in: "spiffe://10.0.0.1/web", td: "10.0.0.1", path: "/web"},
		{in: "spiffe://example.org/a/.b/..c/...", td: "example.org", path: "/a/.b/..c/..."},
		{in: "spiffe://example.org/9eebccd2-12bf-40a6-b262-65fe0487d453", td: "example.org", path: "/9eebccd2-12bf-40a6-b262-65fe0487d453"},
		{in: long(MaxIDLength), td: "example.org", path: long(MaxIDLength)[len("spiffe://example.org"):]},
		{in: "spiffe://" + strings.Repeat("a", MaxTrustDomainLength), td: strings.Repeat("a", MaxTrustDomainLength)},

		// Scheme.
		{in: "", reason: "empty"},
		{in: "example.org/web", reason: "must start with spiffe://"},
		{in: "https://example.org/web", reason: "must start with spiffe://"},
		{in: "spiffe:/example.org/web", reason: "must start with spiffe://"},
		{in: "spiffe:example.org", reason: "must start with spiffe://"},
		{in: "SPIFFE://example.org/web", reason: "scheme must be spiffe, in lower case"},
		{in: "Spiffe://example.org/web", reason: "scheme must be spiffe, in lower case"},
		{in: " spiffe://example.org/web", reason: "must start with spiffe://"},

		// Trust domain.
		{in: "spiffe://", reason: "trust domain is missing"},
		{in: "spiffe:///web", reason: "trust domain is missing"},
		{in: "spiffe://Example.org/web", reason: "must be in lower case"},
		{in: "spiffe://EXAMPLE.ORG", reason: "must be in lower case"},
		{in: "spiffe://example.org:8443/web", reason: "port is not allowed"},
		{in: "spiffe://example.org:/web", reason: "port is not allowed"},
		{in: "spiffe://user@example.org/web", reason: "userinfo is not allowed"},
		{in: "spiffe://user:pass@example.org/web", reason: "userinfo is not allowed"},
		{in: "spiffe://exa%6dple.org/web", reason: "percent-encoding"},
		{in: "spiffe://[::1]/web", reason: "port is not allowed"},
		{in: "spiffe://exa mple.org/web", reason: "lower-case letters, digits"},
		{in: "spiffe://exämple.org/web", reason: "lower-case letters, digits"},
		{in: "spiffe://example.org?x=1", reason: "query is not allowed"},
		{in: "spiffe://example.org#frag", reason: "fragment is not allowed"},
		{in: "spiffe://" + strings.Repeat("a", MaxTrustDomainLength+1), reason: "longer than 255 bytes"},

		// Path.
		{in: "spiffe://example.org/", reason: "must not end with /"},
		{in: "spiffe://example.org/web/", reason: "must not end with /"},
		{in: "spiffe://example.org//web", reason: "empty segment"},
		{in: "spiffe://example.org/a//b", reason: "empty segment"},
		{in: "spiffe://example.org/.", reason: ". or .. segment"},
		{in: "spiffe://example.org/..", reason: ". or .. segment"},
		{in: "spiffe://example.org/a/../b", reason: ". or .. segment"},
		{in: "spiffe://example.org/a/./b", reason: ". or .. segment"},
		{in: "spiffe://example.org/we%20b", reason: "percent-encoding"},
		{in: "spiffe://example.org/%2e%2e", reason: "percent-encoding"},
		{in: "spiffe://example.org/web?x=1", reason: "query is not allowed"},
		{in: "spiffe://example.org/web?", reason: "query is not allowed"},
		{in: "spiffe://example.org/web#x", reason: "fragment is not allowed"},
		{in: "spiffe://example.org/we b", reason: "letters, digits"},
		{in: "spiffe://example.org/web:8080", reason: "letters, digits"},
		{in: "spiffe://example.org/us@er", reason: "letters, digits"},
		{in: "spiffe://example.org/wéb", reason: "letters, digits"},
		{in: "spiffe://example.org/a\x00b", reason: "letters, digits"},
		{in: "spiffe://example.org/a\\b", reason: "letters, digits"},
		{in: "spiffe://example.org/a+b", reason: "letters, digits"},
		{in: "spiffe://example.org/a~b", reason: "letters, digits"},
		{in: long(MaxIDLength + 1), reason: "longer than 2048 bytes"},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			id, err := ParseSPIFFEID(tt.in)
			if tt.td == "" {
				if err == nil {
					t.Fatalf("ParseSPIFFEID(%q) = %v, want an error", tt.in, id)
				}
				var ie *IDError
				if !errors.As(err, &ie) || !strings.Contains(ie.Reason, tt.reason) {
					t.Fatalf("ParseSPIFFEID(%q): %v, want a reason with %q", tt.in, err, tt.reason)
				}
				if strings.Contains(err.Error(), "\n") || len(err.Error()) > 300 {
					t.Errorf("error is not one short line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSPIFFEID(%q): %v", tt.in, err)
			}
			if id.TrustDomain != tt.td || id.Path != tt.path {
				t.Fatalf("ParseSPIFFEID(%q) = {%q %q}, want {%q %q}", tt.in, id.TrustDomain, id.Path, tt.td, tt.path)
			}
			if id.String() != tt.in || id.URL().String() != tt.in {
				t.Errorf("the ID is %q as string and %q as URL, want %q", id, id.URL(), tt.in)
			}
			if id.IsWorkload() != (tt.path != "") {
				t.Errorf("IsWorkload = %v", id.IsWorkload())
			}
		})
	}
}

func TestValidateTrustDomain(t *testing.T) {
	tests := []struct {
		td     string
		reason string // "" valid
	}{
		{"example.org", ""},
		{"prod_1.example-corp.com", ""},
		{"localhost", ""},
		{"", "missing"},
		{"Example.org", "lower case"},
		{"spiffe://example.org", "without a scheme"},
		{"SPIFFE://example.org", "without a scheme"},
		{"https://example.org", "without a scheme"},
		{"example.org:443", "port is not allowed"},
		{"user@example.org", "userinfo"},
		{"example.org/path", "lower-case letters"},
		{"exa%41mple.org", "percent-encoding"},
		{"example.org?a", "query"},
		{strings.Repeat("x", 256), "longer than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.td, func(t *testing.T) {
			err := ValidateTrustDomain(tt.td)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), "trust domain") {
				t.Fatalf("ValidateTrustDomain(%q) = %v, want an error about %q", tt.td, err, tt.reason)
			}
		})
	}
}

// FuzzParseSPIFFEID: ParseSPIFFEID never panics, and what it accepts is
// canonical: the same string back, within the limits, of allowed
// characters only, parsed the same again.
func FuzzParseSPIFFEID(f *testing.F) {
	for _, s := range []string{
		"spiffe://example.org/web", "spiffe://example.org", "spiffe://a/b/c.d/e-f/g_h",
		"SPIFFE://example.org/web", "spiffe://Example.org/web", "spiffe://example.org:80/web",
		"spiffe://u@example.org/web", "spiffe://example.org/", "spiffe://example.org//a",
		"spiffe://example.org/a/../b", "spiffe://example.org/%41", "spiffe://example.org/a?b",
		"spiffe://example.org/a#b", "spiffe:///a", "spiffe://", "", "http://example.org/a",
		"spiffe://10.0.0.1/x", "spiffe://[::1]/x", "spiffe://example.org/\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseSPIFFEID(s)
		if err != nil {
			if id != (ID{}) {
				t.Fatalf("an error with a non-zero ID %v", id)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("%q parsed to %q", s, id)
		}
		if len(s) > MaxIDLength || id.TrustDomain == "" || len(id.TrustDomain) > MaxTrustDomainLength {
			t.Fatalf("%q accepted beyond the limits", s)
		}
		if strings.ContainsAny(s[len("spiffe:"):], ":@?#%") || strings.Contains(id.Path, "//") || strings.HasSuffix(id.Path, "/") {
			t.Fatalf("%q accepted with a forbidden part", s)
		}
		if id.TrustDomain != strings.ToLower(id.TrustDomain) {
			t.Fatalf("%q accepted with an upper-case trust domain", s)
		}
		for _, seg := range strings.Split(id.Path, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("%q accepted with a dot segment", s)
			}
		}
		if err := ValidateTrustDomain(id.TrustDomain); err != nil {
			t.Fatalf("%q accepted, but its trust domain is not valid: %v", s, err)
		}
		again, err := ParseSPIFFEID(id.URL().String())
		if err != nil || again != id {
			t.Fatalf("%q: its URL %q parses to %v, %v", s, id.URL(), again, err)
		}
	})
}
