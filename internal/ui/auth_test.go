package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// loginForm fetches the login page with c and returns its csrf value.
func (f *fixture) loginForm(c *http.Client) string {
	f.t.Helper()
	page := f.get(c, "/ui/login")
	m := csrfInput.FindStringSubmatch(page.body)
	if m == nil {
		f.t.Fatalf("login page without csrf:\n%s", page.body)
	}
	return m[1]
}

func cookieOf(r resp, name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		csrf     func(form string) string // the csrf field sent
		headers  map[string]string
		status   int
		want     string // in the body of the answer (or of /ui/inventory after the redirect)
		wantRole string
	}{
		{name: "admin token", token: adminToken, status: 303, wantRole: "admin"},
		{name: "read-only token", token: readToken, status: 303, wantRole: "read-only"},
		{name: "wrong token", token: "vgl_guess", status: 401, want: `<p id="login-error" class="error" role="alert">`},
		{name: "admin token with a suffix", token: adminToken + "x", status: 401, want: `id="login-error"`},
		{name: "empty token", token: "", status: 401, want: `id="login-error"`},
		{name: "no csrf field", token: adminToken, csrf: func(string) string { return "" }, status: 403, want: `<p id="csrf-error"`},
		{name: "csrf field not the cookie", token: adminToken, csrf: func(string) string { return strings.Repeat("a", 32) }, status: 403, want: `id="csrf-error"`},
		{name: "cross-origin post", token: adminToken, headers: map[string]string{"Origin": "http://evil.example"}, status: 403, want: `id="csrf-error"`},
		{name: "cross-site fetch", token: adminToken, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 403, want: `id="csrf-error"`},
		{name: "same-origin browser post", token: adminToken, headers: map[string]string{"Sec-Fetch-Site": "same-origin"}, status: 303, wantRole: "admin"},
		{name: "browser form under no-referrer (Origin null)", token: adminToken, headers: map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, status: 303, wantRole: "admin"},
		{name: "opaque origin without fetch metadata", token: adminToken, headers: map[string]string{"Origin": "null"}, status: 403, want: `id="csrf-error"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			c := f.client()
			form := f.loginForm(c)
			csrf := form
			if tc.csrf != nil {
				csrf = tc.csrf(form)
			}
			r := f.do(c, "POST", "/ui/login", url.Values{"csrf": {csrf}, "token": {tc.token}}, tc.headers)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d:\n%s", r.StatusCode, tc.status, r.body)
			}
			if tc.want != "" && !strings.Contains(r.body, tc.want) {
				t.Fatalf("body lacks %q:\n%s", tc.want, r.body)
			}
			sc := cookieOf(r, sessionCookie)
			if tc.wantRole == "" {
				if sc != nil {
					t.Fatalf("refused sign-in set a session cookie: %v", sc)
				}
				if inv := f.get(c, "/ui/inventory"); inv.StatusCode != http.StatusSeeOther {
					t.Fatalf("refused sign-in still reaches the inventory: %d", inv.StatusCode)
				}
				return
			}
			if r.Header.Get("Location") != "/ui/" {
				t.Errorf("Location = %q", r.Header.Get("Location"))
			}
			if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/ui/" || sc.Secure {
				t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui/, not Secure over plain HTTP", sc)
			}
			if sc.MaxAge != int((12 * time.Hour).Seconds()) {
				t.Errorf("MaxAge = %d", sc.MaxAge)
			}
			inv := f.get(c, "/ui/inventory")
			if inv.StatusCode != 200 || !strings.Contains(inv.body, `<span id="role" class="role role-`+tc.wantRole+`">`+tc.wantRole+`</span>`) {
				t.Fatalf("inventory after sign-in: %d, role %q missing:\n%s", inv.StatusCode, tc.wantRole, inv.body)
			}
		})
	}
}

func TestLoginSecureCookieOverTLS(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptestTLS(t, f.mux)
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	page, err := c.Get(srv.URL + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	var pre *http.Cookie
	for _, ck := range page.Cookies() {
		if ck.Name == loginCSRFCookie {
			pre = ck
		}
	}
	if pre == nil || !pre.Secure {
		t.Fatalf("login csrf cookie over TLS: %+v", pre)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/ui/login", strings.NewReader(url.Values{"csrf": {pre.Value}, "token": {adminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(pre)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == sessionCookie {
			if !ck.Secure {
				t.Fatal("session cookie over TLS is not Secure")
			}
			return
		}
	}
	t.Fatalf("no session cookie (status %d)", res.StatusCode)
}

func TestLoginRedirectsBack(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client()
	r := f.get(c, "/ui/inventory?status=shadow")
	if r.StatusCode != 303 || r.Header.Get("Location") != "/ui/login?next=%2Fui%2Finventory%3Fstatus%3Dshadow" {
		t.Fatalf("signed out: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	page := f.get(c, r.Header.Get("Location"))
	m := csrfInput.FindStringSubmatch(page.body)
	if m == nil || !strings.Contains(page.body, `name="next" value="/ui/inventory?status=shadow"`) {
		t.Fatalf("login page does not carry next:\n%s", page.body)
	}
	res := f.do(c, "POST", "/ui/login", url.Values{"csrf": {m[1]}, "token": {adminToken}, "next": {"/ui/inventory?status=shadow"}}, nil)
	if res.Header.Get("Location") != "/ui/inventory?status=shadow" {
		t.Fatalf("after sign-in: %q", res.Header.Get("Location"))
	}
}

func TestSafeNext(t *testing.T) {
	tests := map[string]string{
		"":                     "/ui/",
		"/ui/inventory?q=a":    "/ui/inventory?q=a",
		"//evil.example/ui/":   "/ui/",
		"https://evil.example": "/ui/",
		"/ui/\\evil":           "/ui/",
		"/uix":                 "/ui/",
		"/ui/login?next=/ui/":  "/ui/",
		"/ui/x\r\nSet-Cookie:": "/ui/",
	}
	for in, want := range tests {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client()
	csrf := f.loginForm(c)
	post := func(token string) int {
		return f.do(c, "POST", "/ui/login", url.Values{"csrf": {csrf}, "token": {token}}, nil).StatusCode
	}
	for i := range loginBurst {
		if got := post("wrong"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, got)
		}
	}
	if got := post("wrong"); got != http.StatusUnauthorized {
		t.Fatalf("failure past the burst: %d, want 401 (this one is counted and blocks the next)", got)
	}
	r := f.do(c, "POST", "/ui/login", url.Values{"csrf": {csrf}, "token": {adminToken}}, nil)
	if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.body, `id="rate-limited"`) || r.Header.Get("Retry-After") == "" {
		t.Fatalf("blocked client with the right token: %d, want 429 with Retry-After:\n%s", r.StatusCode, r.body)
	}
	f.clock.Add(loginEvery + time.Second)
	if got := post(adminToken); got != http.StatusSeeOther {
		t.Fatalf("after the wait: %d, want 303", got)
	}
}

// adminOnly mounts a test-only change route, as the insight pages add
// them (checkpoint now), to check the wrapper's guards.
func adminOnly(f *fixture) {
	f.mux.Handle("POST /ui/test/change", f.ui.wrap(route{pattern: "POST /ui/test/change", fn: func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}}))
}

func TestChangesNeedCSRFAndAdmin(t *testing.T) {
	f := newFixture(t, nil)
	adminOnly(f)
	admin, ro := f.client(), f.client()
	adminCSRF := f.signIn(admin, adminToken)
	roCSRF := f.signIn(ro, readToken)
	origin := f.srv.URL
	tests := []struct {
		name    string
		c       *http.Client
		form    url.Values
		headers map[string]string
		status  int
		want    string
	}{
		{"admin with csrf field", admin, url.Values{"csrf": {adminCSRF}}, nil, 204, ""},
		{"admin with csrf header", admin, url.Values{}, map[string]string{"X-CSRF-Token": adminCSRF}, 204, ""},
		{"admin same origin", admin, url.Values{"csrf": {adminCSRF}}, map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-origin"}, 204, ""},
		{"admin without csrf", admin, url.Values{}, nil, 403, `<p id="csrf-error"`},
		{"admin with another session's csrf", admin, url.Values{"csrf": {roCSRF}}, nil, 403, `id="csrf-error"`},
		{"admin cross-origin", admin, url.Values{"csrf": {adminCSRF}}, map[string]string{"Origin": "http://evil.example"}, 403, `id="csrf-error"`},
		{"admin origin null", admin, url.Values{"csrf": {adminCSRF}}, map[string]string{"Origin": "null"}, 403, `id="csrf-error"`},
		{"admin origin null from a same-origin form (no-referrer)", admin, url.Values{"csrf": {adminCSRF}}, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, 204, ""},
		{"admin origin null cross-site", admin, url.Values{"csrf": {adminCSRF}}, map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, 403, `id="csrf-error"`},
		{"admin cross-site", admin, url.Values{"csrf": {adminCSRF}}, map[string]string{"Sec-Fetch-Site": "same-site"}, 403, `id="csrf-error"`},
		{"read-only with csrf", ro, url.Values{"csrf": {roCSRF}}, nil, 403, `<p id="forbidden"`},
		{"read-only without csrf", ro, url.Values{}, nil, 403, `id="csrf-error"`},
		{"signed out", f.client(), url.Values{}, nil, 303, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(tc.c, "POST", "/ui/test/change", tc.form, tc.headers)
			if r.StatusCode != tc.status || !strings.Contains(r.body, tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", r.StatusCode, tc.status, tc.want, r.body)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	f := newFixture(t, nil)
	for _, tok := range []string{adminToken, readToken} {
		c := f.client()
		csrf := f.signIn(c, tok)
		if r := f.do(c, "POST", "/ui/logout", url.Values{}, nil); r.StatusCode != 403 {
			t.Fatalf("logout without csrf: %d", r.StatusCode)
		}
		r := f.do(c, "POST", "/ui/logout", url.Values{"csrf": {csrf}}, nil)
		if r.StatusCode != 303 || r.Header.Get("Location") != "/ui/login" {
			t.Fatalf("logout (%s): %d %q", tok, r.StatusCode, r.Header.Get("Location"))
		}
		if sc := cookieOf(r, sessionCookie); sc == nil || sc.MaxAge >= 0 {
			t.Fatalf("logout did not clear the cookie: %+v", sc)
		}
		if r := f.get(c, "/ui/inventory"); r.StatusCode != 303 {
			t.Fatalf("after logout: %d", r.StatusCode)
		}
	}
}

func TestSessionRequired(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client()
	if r := f.get(c, "/ui/inventory"); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/ui/login") {
		t.Fatalf("page signed out: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := f.get(c, "/ui/"); r.Header.Get("Location") != "/ui/login" {
		t.Fatalf("home signed out: %q", r.Header.Get("Location"))
	}
	if r := f.get(c, "/ui/inventory/rows"); r.StatusCode != 401 {
		t.Fatalf("fragment signed out: %d, want 401", r.StatusCode)
	}
}

// TestCookieTampering: only cookies this server signed, unexpired, with
// a known role, open a session.
func TestCookieTampering(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	a := f.ui.auth
	good := a.encode(session{Role: RoleReadOnly, Expires: now.Add(time.Hour), ID: strings.Repeat("ab", 16)})
	parts := strings.Split(good, ".")
	other := newAuth("another admin token", readToken, f.clock.Now)
	noRead := newAuth(adminToken, "", f.clock.Now)
	tests := []struct {
		name   string
		cookie string
		auth   *auth
		ok     bool
	}{
		{"as signed", good, a, true},
		{"role raised to admin", strings.Replace(good, RoleReadOnly, RoleAdmin, 1), a, false},
		{"expiry pushed out", strings.Join([]string{parts[0], "99999999999", parts[2], parts[3]}, "."), a, false},
		{"id changed", strings.Join([]string{parts[0], parts[1], strings.Repeat("cd", 16), parts[3]}, "."), a, false},
		{"signature cut", good[:len(good)-2], a, false},
		{"signature missing", strings.Join(parts[:3], "."), a, false},
		{"extra part", good + ".x", a, false},
		{"admin token changed", good, other, false},
		{"read-only role removed", good, noRead, false},
		{"expired", a.encode(session{Role: RoleAdmin, Expires: now.Add(-time.Second), ID: strings.Repeat("ab", 16)}), a, false},
		{"empty", "", a, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.auth.parse(tc.cookie)
			if (err == nil) != tc.ok {
				t.Fatalf("parse ok=%v, want %v", err == nil, tc.ok)
			}
			// And over HTTP: a tampered cookie is a signed-out browser.
			if tc.auth != a {
				return
			}
			req, _ := http.NewRequest("GET", f.srv.URL+"/ui/inventory", nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tc.cookie})
			res, err := f.client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if want := map[bool]int{true: 200, false: 303}[tc.ok]; res.StatusCode != want {
				t.Fatalf("GET with cookie: %d, want %d", res.StatusCode, want)
			}
		})
	}
}

func TestCSRFTokenBoundToSession(t *testing.T) {
	a := newAuth(adminToken, "", time.Now)
	s1 := session{Role: RoleAdmin, ID: strings.Repeat("01", 16)}
	s2 := session{Role: RoleAdmin, ID: strings.Repeat("02", 16)}
	if a.csrfToken(s1) == a.csrfToken(s2) {
		t.Fatal("two sessions share a CSRF token")
	}
	if newAuth("other", "", time.Now).csrfToken(s1) == a.csrfToken(s1) {
		t.Fatal("CSRF token does not depend on the key")
	}
}

func httptestTLS(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewTLSServer(h)
	t.Cleanup(s.Close)
	return s
}
