package endpoint

import "testing"

func TestMatch(t *testing.T) {
	cases := []struct {
		tmpl, method, path string
		want               bool
	}{
		{"POST /login", "POST", "/login", true},
		{"POST /login", "GET", "/login", false},
		{"POST /login", "POST", "/login/", false},
		{"POST /login", "POST", "/login/x", false},
		{"/login", "PUT", "/login", true},
		{"GET /users/{id}", "GET", "/users/42", true},
		{"GET /users/{id}", "HEAD", "/users/42", true},
		{"GET /users/{id}", "GET", "/users/", false},
		{"GET /users/{id}", "GET", "/users", false},
		{"GET /users/{id}", "GET", "/users/42/orders", false},
		{"/cart/items/{parameter}", "GET", "/cart/items/jane", true},
		{"/admin/*", "GET", "/admin/x/y", true},
		{"/admin/*", "GET", "/admin", true},
		{"/admin/*", "GET", "/administrator", false},
		{"/a/*/c", "GET", "/a/b/c", true},
		{"/", "GET", "/", true},
		{"/", "GET", "/x", false},
		{"/*", "GET", "/x", true},
		{"ANY /x", "DELETE", "/x", true},
	}
	for _, c := range cases {
		tm, err := Parse(c.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", c.tmpl, err)
		}
		if got := tm.Match(c.method, c.path); got != c.want {
			t.Errorf("%q.Match(%s %s) = %v, want %v", c.tmpl, c.method, c.path, got, c.want)
		}
	}
}

func TestParams(t *testing.T) {
	tm := MustParse("GET /teams/{team}/members/{user}")
	p := tm.Params("GET", "/teams/core/members/jane.doe")
	if p["team"] != "core" || p["user"] != "jane.doe" {
		t.Fatalf("params = %v", p)
	}
	if tm.Params("GET", "/teams/core") != nil {
		t.Fatal("a non-matching path has params")
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"FETCH /x", "login", "/users/{id", "/users/x{id}", "GET"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	tm := MustParse("POST /cart/item/add/{parameter}")
	b.ReportAllocs()
	for b.Loop() {
		if !tm.Match("POST", "/cart/item/add/jane") {
			b.Fatal("no match")
		}
	}
}
