package ui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

const (
	adminToken = "vgl_admin_secret"
	readToken  = "vgl_read_secret"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a dashboard on a real loopback server over a fresh store.
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	ui    *Server
	store store.Store
	clock *clock
	mux   *http.ServeMux
}

func openStore(t testing.TB, newDB storetest.NewDB) store.Store {
	t.Helper()
	dsn, dir := newDB(t)
	st, err := store.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, store: openStore(t, storetest.SQLite), clock: &clock{t: time.Now()}}
	o := Options{Store: f.store, Token: adminToken, ReadToken: readToken, Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.ui = s
	f.mux = http.NewServeMux()
	s.Register(f.mux)
	f.srv = httptest.NewServer(f.mux)
	t.Cleanup(f.srv.Close)
	return f
}

// client is a browser: a cookie jar, redirects not followed.
func (f *fixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type resp struct {
	*http.Response
	body string
}

func (f *fixture) do(c *http.Client, method, path string, form url.Values, hdr map[string]string) resp {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res, string(b)}
}

func (f *fixture) get(c *http.Client, path string) resp { return f.do(c, "GET", path, nil, nil) }

var (
	csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfMeta  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

// signIn signs c in with token through the login form and returns the
// session's CSRF token.
func (f *fixture) signIn(c *http.Client, token string) string {
	f.t.Helper()
	page := f.get(c, "/ui/login")
	m := csrfInput.FindStringSubmatch(page.body)
	if m == nil {
		f.t.Fatalf("login page without csrf input:\n%s", page.body)
	}
	r := f.do(c, "POST", "/ui/login", url.Values{"csrf": {m[1]}, "token": {token}}, nil)
	if r.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("sign in: status %d:\n%s", r.StatusCode, r.body)
	}
	inv := f.get(c, "/ui/inventory")
	mm := csrfMeta.FindStringSubmatch(inv.body)
	if mm == nil {
		f.t.Fatalf("page without csrf meta (status %d):\n%s", inv.StatusCode, inv.body)
	}
	return mm[1]
}

// TestSecurityHeaders walks every GET route, signed in and not: each
// answer carries the CSP and the other headers, pages are not cached, and
// no page has inline script or style.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	seedEndpoints(t, f.store, 3)
	signed := f.client()
	f.signIn(signed, adminToken)
	paths := []string{"/ui/login", "/ui/", "/ui/inventory", "/ui/inventory?sort=hits", "/ui/inventory/rows",
		"/ui/endpoints/0123456789abcdef", "/ui/no-such-page", "/ui/inventory?sort=nope", "/ui/static/style.css",
		"/ui/static/live.js", "/ui/static/login.js", "/ui/static/nope.css", "/ui/openapi"}
	for _, rt := range f.ui.routes() {
		if p, ok := strings.CutPrefix(rt.pattern, "GET "); ok && !strings.Contains(p, "{") && !strings.HasSuffix(p, "/") {
			paths = append(paths, p)
		}
	}
	inlineScript := regexp.MustCompile(`<script(?:\s[^>]*)?>`)
	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"signed out", f.client()}, {"signed in", signed}} {
		for _, p := range paths {
			t.Run(c.name+" "+p, func(t *testing.T) {
				r := f.get(c.client, p)
				h := r.Header
				if got := h.Get("Content-Security-Policy"); got != contentSecurityPolicy {
					t.Errorf("CSP = %q", got)
				}
				for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
					if h.Get(k) != v {
						t.Errorf("%s = %q, want %q", k, h.Get(k), v)
					}
				}
				if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
					if h.Get("Cache-Control") != "no-store" {
						t.Errorf("page Cache-Control = %q", h.Get("Cache-Control"))
					}
					for _, tag := range inlineScript.FindAllString(r.body, -1) {
						if !strings.Contains(tag, " src=") {
							t.Errorf("inline script: %s", tag)
						}
					}
					if strings.Contains(r.body, "<style") || strings.Contains(r.body, " style=") {
						t.Errorf("inline style in %s", p)
					}
				}
			})
		}
	}
}

func TestRegisterRedirectsBareUI(t *testing.T) {
	f := newFixture(t, nil)
	r := f.get(f.client(), "/ui")
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET /ui: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestErrorPages(t *testing.T) {
	f := newFixture(t, nil)
	seedEndpoints(t, f.store, 2)
	c := f.client()
	f.signIn(c, adminToken)
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/ui/endpoints/0123456789abcdef", 404, `<p id="not-found"`},
		{"/ui/endpoints/not-an-id", 404, `<p id="not-found"`},
		{"/ui/nothing-here", 404, `<p id="not-found"`},
		{"/ui/inventory?sort=color", 400, `Bad parameter &#34;sort&#34;`},
		{"/ui/inventory?status=secret", 400, `Bad parameter &#34;status&#34;`},
		{"/ui/inventory?page=0", 400, `Bad parameter &#34;page&#34;`},
		{"/ui/inventory?dir=up", 400, `Bad parameter &#34;dir&#34;`},
		{"/ui/inventory?method=G%20T", 400, `Bad parameter &#34;method&#34;`},
		{"/ui/inventory/rows?sort=color", 400, `Bad parameter "sort"`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := f.get(c, tc.path)
			if r.StatusCode != tc.status || !strings.Contains(r.body, tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", r.StatusCode, tc.status, tc.want, r.body)
			}
		})
	}
}

func TestNewChecksOptions(t *testing.T) {
	st := openStore(t, storetest.SQLite)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no store", Options{Token: "x"}, "store"},
		{"no token", Options{Store: st}, "admin token"},
		{"same tokens", Options{Store: st, Token: "x", ReadToken: "x"}, "must differ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(time.Second), "just now"},
		{now.Add(-5 * time.Second), "5s ago"},
		{now.Add(-3 * time.Minute), "3m ago"},
		{now.Add(-5 * time.Hour), "5h ago"},
		{now.Add(-72 * time.Hour), "3d ago"},
	}
	for _, tc := range tests {
		if got := ago(now, tc.t); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}
