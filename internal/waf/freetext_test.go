package waf

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
)

func TestFreeTextClassifier(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"The kettle arrived on time and every time I use it the packaging impresses me.", true},
		{"Use `Ctrl+Shift+P` to open the command palette, then type *Format Document* and press enter.", true},
		{"Die Lieferung kam pünktlich, und die Verpackung war wirklich hervorragend gemacht.", true},
		{"; cat /etc/passwd", false},
		{"SPRING24", false},
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", false},
		{"aGVsbG8gd29ybGQgdGhpcyBpcyBhIGJhc2U2NCBibG9iIHRoYXQgZ29lcyBvbiBhbmQgb24=", false},
		{"<script>alert(document.cookie)</script><script>alert(1)</script>", false},
		{"742 Evergreen Terrace, Springfield", false},
		{"\xff\xfe not valid utf-8 but otherwise a sentence of ordinary words", false},
	} {
		if got := freeText(c.s); got != c.want {
			t.Errorf("freeText(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

// free_text: score lets a vocabulary rule in prose through alone, blocks
// it with another rule, and changes nothing outside JSON prose fields.
func TestFreeTextScoring(t *testing.T) {
	def, crs := pl1(t), build(t, &config.WAF{FreeText: config.WAFFreeTextOff})
	review := func(body string) *Request {
		b, _ := json.Marshal(map[string]any{"rating": 5, "body": body})
		return req("POST", "/products/3/reviews", "application/json", string(b))
	}
	prose := "Great little kettle, it boils a full litre in under three minutes and is quiet."
	for _, c := range []struct {
		name          string
		r             *Request
		crsBlocks     bool
		defaultBlocks bool
		fires         string
	}{
		{"command words in a review", review("Use `Ctrl+Shift+P` to open the command palette, then type *Format Document*. It formats the whole file at once."), true, false, "932235"},
		{"HTML in Markdown", review("<p align=\"center\"><img src=\"https://example.com/logo.png\" alt=\"logo\"></p>\n\nOur new kettle is here, and it is the best one we have made so far."), true, false, "941160"},
		{"localhost in a ticket", review("After docker compose up the shop runs, then open http://localhost:3000 in your browser and log in as the demo user."), true, false, "934110"},
		{"script appended to a review", review(prose + " <script>alert(document.cookie)</script>"), true, true, ""},
		{"shell chain appended to a review", review(prose + " && whoami"), true, true, ""},
		{"metadata URL in a review", review(prose + " http://169.254.169.254/latest/meta-data/"), true, true, ""},
		{"the same key in the query", func() *Request {
			r := review("Use `Ctrl+Shift+P` to open the command palette, then type *Format Document*. It formats the whole file at once.")
			r.URI += "?json.body=" + strings.ReplaceAll("Use `Ctrl+Shift+P` to open the command palette, then type *Format Document*. It formats the whole file at once.", " ", "+")
			return r
		}(), true, true, ""},
		{"command words in a short field", req("POST", "/cart/coupon", "application/json", `{"code":"; time sleep 10"}`), true, true, ""},
		{"command words in a query", req("GET", "/search?q="+strings.ReplaceAll("every time the packaging has been excellent; time flies", " ", "+"), "", ""), crsQueryBlocks(t, crs), crsQueryBlocks(t, crs), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			idCRS, _ := run(crs, c.r)
			idDef, fs := run(def, c.r)
			if (idCRS != 0) != c.crsBlocks {
				t.Errorf("CRS scoring: blocked %v, want %v", idCRS != 0, c.crsBlocks)
			}
			if (idDef != 0) != c.defaultBlocks {
				t.Errorf("defaults: blocked %v (%v), want %v", idDef != 0, ruleIDs(fs), c.defaultBlocks)
			}
			if c.fires != "" && !slices.Contains(ruleIDs(fs), c.fires) {
				t.Errorf("%s is not reported (%v): a demoted rule still fires", c.fires, ruleIDs(fs))
			}
		})
	}
}

// crsQueryBlocks: the query case must behave the same with both settings,
// whatever the CRS decides.
func crsQueryBlocks(t *testing.T, e *Engine) bool {
	id, _ := run(e, req("GET", "/search?q="+strings.ReplaceAll("every time the packaging has been excellent; time flies", " ", "+"), "", ""))
	return id != 0
}

func FuzzFreeText(f *testing.F) {
	for _, s := range []string{"", "a b c d e f g h i j k l m n o p", "The kettle arrived on time and the packaging is great.", "\xff\xfe", strings.Repeat("ab ", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if freeText(s) && len(s) < 40 {
			t.Fatalf("%q: shorter than 40 bytes yet free text", s)
		}
	})
}

// text_fields: the vocabulary rules skip the named fields of the endpoint,
// and only those; the other rules still run on them.
func TestTextFields(t *testing.T) {
	e := build(t, &config.WAF{TextFields: []config.WAFTextField{{Endpoint: "POST /posts", Fields: []string{"title", "meta.summary"}}}})
	html := `<p align=\"center\"> <img src=\"https://example.com/logo.png\"`
	for _, c := range []struct {
		name, target, body string
		blocked            bool
	}{
		{"HTML in a named field", "/posts", `{"title":"` + html + `"}`, false},
		{"HTML in a nested named field", "/posts", `{"meta":{"summary":"` + html + `"}}`, false},
		{"HTML in another field", "/posts", `{"subtitle":"` + html + `"}`, true},
		{"HTML in the field on another endpoint", "/comments", `{"title":"` + html + `"}`, true},
		{"a script in a named field", "/posts", `{"title":"<script>alert(document.cookie)</script>"}`, true},
		{"SQL injection in a named field", "/posts", `{"title":"1' UNION SELECT username, password FROM users--"}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, fs := run(e, req("POST", c.target, "application/json", c.body))
			if (id != 0) != c.blocked {
				t.Errorf("blocked %v (%v), want %v", id != 0, ruleIDs(fs), c.blocked)
			}
		})
	}
}
