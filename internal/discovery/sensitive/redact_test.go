package sensitive

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	c, _ := New(nil)
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLXNlY3JldA"
	for _, tc := range []struct {
		in, mustNot, keep string
	}{
		{"q=socks&page=2", "", "q=socks&page=2"},
		{"api_key=sk_" + "live_51HxYzAbCdEfGhIjKlMnOpQr&page=2", "51HxYzAbCdEf", "&page=2"},
		{"access_token=" + jwt, "c2lnbmF0dXJl", "access_token="},
		{"password=hunter2&user=jane", "hunter2", "user=jane"},
		{"card=4111%201111%201111%201111", "4111%201111%201111%201111", "card="},
		// secret by name, whatever the value looks like
		{"access_token=ya29.a0AfH6SMBx&page=2", "ya29.a0AfH6SMBx", "&page=2"},
		{"token=abc123", "abc123", "token="},
		{"code=4%2F0AX4XfWh&state=xyz", "0AX4XfWh", "&state=xyz"},
		{"X-Amz-Signature=abcdef0123456789&X-Amz-Expires=300", "abcdef0123456789", "X-Amz-Expires=300"},
		{"auth=Basic%20dXNlcjpwYXNz", "dXNlcjpwYXNz", "auth="},
		{"cvv=123&qty=2", "cvv=123", "qty=2"},
		// not secrets: pagination tokens, ordinary parameters
		{"page_token=CAEQAA&q=shoes", "", "page_token=CAEQAA&q=shoes"},
		{"sort=price&limit=20", "", "sort=price&limit=20"},
	} {
		got := c.RedactQuery(tc.in)
		if tc.mustNot == "" && got != tc.in {
			t.Errorf("%q changed to %q", tc.in, got)
		}
		if tc.mustNot != "" && strings.Contains(got, tc.mustNot) {
			t.Errorf("%q: secret kept in %q", tc.in, got)
		}
		if !strings.Contains(got, tc.keep) {
			t.Errorf("%q: %q lost %q", tc.in, got, tc.keep)
		}
	}
	if got := c.RedactPath("/reset/" + jwt + "/confirm"); strings.Contains(got, "c2lnbmF0dXJl") || !strings.HasSuffix(got, "/confirm") || !strings.HasPrefix(got, "/reset/") {
		t.Errorf("path: %q", got)
	}
	if got := c.RedactPath("/users/jane@example.com"); strings.Contains(got, "jane@") {
		t.Errorf("email in path: %q", got)
	}
	if p := "/products/12345678/reviews"; c.RedactPath(p) != p {
		t.Errorf("plain path changed: %q", c.RedactPath(p))
	}
}

func FuzzRedactQuery(f *testing.F) {
	f.Add("a=1&token=abc&&=x&b")
	f.Add("password=%zz&x=%41")
	f.Fuzz(func(t *testing.T, q string) {
		c, _ := New(nil)
		_ = c.RedactQuery(q)
		_ = c.RedactPath(q)
	})
}

func BenchmarkRedactQueryClean(b *testing.B) {
	c, _ := New(nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.RedactQuery("category=socks&page=2&limit=20")
	}
}
