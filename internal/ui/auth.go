package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/tokenbucket"
)

// Roles.
const (
	RoleAdmin    = "admin"
	RoleReadOnly = "read-only"
)

const (
	sessionCookie   = "vigil_session"
	loginCSRFCookie = "vigil_csrf"
	sessionTTL      = 12 * time.Hour
	// Failed sign-ins per client IP: a burst of loginBurst, then one every
	// loginEvery; beyond that 429.
	loginBurst = 10
	loginEvery = 6 * time.Second
	// maxClients bounds the failed sign-in table.
	maxClients = 10000
	// maxFormBytes bounds a POSTed form.
	maxFormBytes = 64 << 10
)

// b64 is the cookies' and tokens' encoding: unpadded base64url, strict.
var b64 = base64.RawURLEncoding.Strict()

// session is a signed-in browser. It is stateless: the cookie carries the
// role, the expiry and a random id, signed with a key derived from the
// tokens, so changing a token signs everybody out.
type session struct {
	Role    string
	Expires time.Time
	ID      string // 32 hex digits; the CSRF token is derived from it
}

// auth signs sessions and checks sign-ins.
type auth struct {
	key       []byte
	admin     [32]byte
	read      [32]byte
	readSet   bool
	now       func() time.Time
	mu        sync.Mutex
	failures  map[string]*loginFailures
	rateLimit float64 // failures per second refilled
}

// loginFailures is one client's failed sign-in budget.
type loginFailures struct {
	b            tokenbucket.Bucket
	blockedUntil time.Time
}

func newAuth(token, readToken string, now func() time.Time) *auth {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("vigil ui session v1\x00" + readToken))
	return &auth{
		key: m.Sum(nil), admin: sha256.Sum256([]byte(token)), read: sha256.Sum256([]byte(readToken)),
		readSet: readToken != "", now: now, failures: map[string]*loginFailures{},
		rateLimit: 1 / loginEvery.Seconds(),
	}
}

// roleOf returns the role token grants ("" for none), comparing digests
// in constant time.
func (a *auth) roleOf(token string) string {
	got := sha256.Sum256([]byte(token))
	isAdmin := subtle.ConstantTimeCompare(got[:], a.admin[:]) == 1
	isRead := subtle.ConstantTimeCompare(got[:], a.read[:]) == 1
	switch {
	case token == "":
		return ""
	case isAdmin:
		return RoleAdmin
	case isRead && a.readSet:
		return RoleReadOnly
	}
	return ""
}

func (a *auth) mac(kind, msg string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(kind + "\x00" + msg))
	return m.Sum(nil)
}

// encode is the cookie value: role.expiry.id.mac.
func (a *auth) encode(s session) string {
	payload := s.Role + "." + strconv.FormatInt(s.Expires.Unix(), 10) + "." + s.ID
	return payload + "." + b64.EncodeToString(a.mac("session", payload))
}

// errBadSession is every reason a cookie is refused.
var errBadSession = errors.New("ui: bad session cookie")

// parse checks a cookie value: well formed, signed by this key, not
// expired, a known role. A value parse accepts is the encoding of what it
// returns.
func (a *auth) parse(v string) (session, error) {
	if len(v) > 256 {
		return session{}, errBadSession
	}
	parts := strings.Split(v, ".")
	if len(parts) != 4 {
		return session{}, errBadSession
	}
	role, exp, id, sig := parts[0], parts[1], parts[2], parts[3]
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, a.mac("session", role+"."+exp+"."+id)) {
		return session{}, errBadSession
	}
	if role != RoleAdmin && (role != RoleReadOnly || !a.readSet) {
		return session{}, errBadSession
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || strconv.FormatInt(sec, 10) != exp {
		return session{}, errBadSession
	}
	if !isHexID(id) {
		return session{}, errBadSession
	}
	s := session{Role: role, Expires: time.Unix(sec, 0), ID: id}
	if !a.now().Before(s.Expires) {
		return session{}, errBadSession
	}
	return s, nil
}

func isHexID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// session returns the request's valid session.
func (a *auth) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	s, err := a.parse(c.Value)
	return s, err == nil
}

// csrfToken is the session's CSRF token.
func (a *auth) csrfToken(s session) string {
	return b64.EncodeToString(a.mac("csrf", s.ID))
}

// errCSRF is the 403 of a change without the session's CSRF token or from
// another origin.
var errCSRF = &pageError{status: http.StatusForbidden, id: "csrf-error",
	msg: "This change was refused: the form is stale or came from another site. Reload the page and try again."}

// checkChange admits a state-changing request of sess: same origin and
// the session's CSRF token (form field csrf or header X-CSRF-Token).
func (a *auth) checkChange(w http.ResponseWriter, r *http.Request, sess session) error {
	if !sameOrigin(r) {
		return errCSRF
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		got = r.PostFormValue("csrf")
	}
	want := a.csrfToken(sess)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errCSRF
	}
	return nil
}

// sameOrigin reports whether the browser says r comes from this origin
// (requests without Origin and Sec-Fetch-Site, from non-browsers, pass:
// the CSRF token still guards them).
func sameOrigin(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	switch origin {
	case "":
		return true
	case "null":
		// Referrer-Policy: no-referrer makes browsers send "Origin: null"
		// with their own forms; Sec-Fetch-Site then tells.
		return site == "same-origin"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+r.Host
}

type ctxKey struct{}

func withSession(ctx context.Context, s session) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

func sessionFrom(ctx context.Context) (session, bool) {
	s, ok := ctx.Value(ctxKey{}).(session)
	return s, ok
}

// clientIP is the address failed sign-ins are counted by.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked reports whether ip used up its failed sign-ins.
func (a *auth) blocked(ip string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[ip]
	return f != nil && a.now().Before(f.blockedUntil)
}

// failed counts a failed sign-in of ip.
func (a *auth) failed(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	f := a.failures[ip]
	if f == nil {
		if len(a.failures) >= maxClients {
			a.pruneLocked(now)
		}
		f = &loginFailures{b: tokenbucket.New(loginBurst, now)}
		a.failures[ip] = f
	}
	if ok, wait := f.b.Take(now, a.rateLimit, loginBurst); !ok {
		f.blockedUntil = now.Add(wait)
	}
}

// pruneLocked forgets clients whose budget has refilled (all of them if
// that frees nothing).
func (a *auth) pruneLocked(now time.Time) {
	full := time.Duration(loginBurst) * loginEvery
	for ip, f := range a.failures {
		if now.Sub(f.blockedUntil) > full {
			delete(a.failures, ip)
		}
	}
	if len(a.failures) >= maxClients {
		clear(a.failures)
	}
}

// loginData is what login.html shows.
type loginData struct {
	CSRF     string
	Next     string
	Error    string
	ReadRole bool
}

// loginURL is the login page that returns to r's page after sign-in.
func loginURL(r *http.Request) string {
	if r.Method != http.MethodGet || r.URL.Path == "/ui/" {
		return "/ui/login"
	}
	return "/ui/login?next=" + url.QueryEscape(r.URL.RequestURI())
}

// safeNext is where to go after sign-in: a dashboard path, never another
// site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "/ui/login") {
		return "/ui/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/ui/"
	}
	return next
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// loginCSRF returns the pre-session double-submit token, setting the
// cookie when the browser has none.
func (s *Server) loginCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(loginCSRFCookie); err == nil && isHexID(c.Value) {
		return c.Value
	}
	v := randomHex(16)
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: v, Path: "/ui/login", MaxAge: 3600,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return v
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if _, ok := s.auth.session(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	d := loginData{CSRF: s.loginCSRF(w, r), Next: r.URL.Query().Get("next"), ReadRole: s.auth.readSet}
	return s.render(w, r, "login", d)
}

// login exchanges a token for a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	ip := clientIP(r)
	if s.auth.blocked(ip) {
		return &pageError{status: http.StatusTooManyRequests, id: "rate-limited", msg: "Too many failed sign-ins from this address; wait a minute."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return &pageError{status: http.StatusBadRequest, id: "bad-request", msg: "The sign-in form could not be read."}
	}
	c, err := r.Cookie(loginCSRFCookie)
	if !sameOrigin(r) || err != nil || !isHexID(c.Value) ||
		subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.Value)) != 1 {
		return errCSRF
	}
	role := s.auth.roleOf(r.PostFormValue("token"))
	if role == "" {
		s.auth.failed(ip)
		s.log.Info("ui: failed sign-in", "client", ip)
		d := loginData{CSRF: c.Value, Next: r.PostFormValue("next"), Error: "That token is not valid.", ReadRole: s.auth.readSet}
		return s.renderStatus(w, r, http.StatusUnauthorized, "login", d)
	}
	sess := session{Role: role, Expires: s.o.Now().Add(sessionTTL).Truncate(time.Second), ID: randomHex(16)}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.auth.encode(sess), Path: "/ui/",
		Expires: sess.Expires, MaxAge: int(sessionTTL.Seconds()), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/ui/login", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	s.log.Info("ui: signed in", "client", ip, "role", role)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

// logout clears the session cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}
