// Package ui is the control plane's web dashboard under /ui/: server-rendered
// html/template pages with embedded assets (one CSS file, small hand-written
// scripts), a strict Content-Security-Policy, sign-in with the admin token
// (or the read-only token) exchanged for a signed session cookie, and CSRF
// protection on every change. It works with no internet access.
//
// Adding a page:
//
//  1. Add a route to the table in routes (or, for the insight pages, in
//     insightRoutes): {pattern: "GET /ui/things/{id}", fn: s.thing}. Routes
//     need a session unless public; a route marked fragment (an HTML
//     fragment or JSON a script polls) answers 401 instead of redirecting to
//     the login page. Every non-GET route needs the session's CSRF token
//     and an admin session unless anyRole is set — the wrapper checks both,
//     handlers do not.
//  2. Write templates/thing.html defining {{define "title"}} and
//     {{define "content"}} (and any fragments, e.g. {{define "rows"}}). It
//     is parsed with templates/layout.html and templates/partials/*.html,
//     so it can use the shared blocks ("status", "sensitive") and the
//     functions of funcs (asset, since, json...). The page data is .Data;
//     .Role and .CSRF are there too, and every form carries
//     {{template "csrf" .}}.
//  3. The handler is a func(w, r) error: it calls s.render(w, r, "thing",
//     data) (or s.renderFragment(w, r, "thing", "rows", data)) and returns
//     errors: notFound("endpoint") (404 page with #not-found),
//     badParam("sort", "must be ...") (400 page naming the parameter), any
//     other error is logged and answered 500.
//
// The nav entry a page highlights follows from its path (navOf).
package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// GraphSource is the call graph and the risk scores (*control.Plane; the
// method set of api.GraphService).
type GraphSource interface {
	Connections(ctx context.Context, f store.ConnectionFilter) (store.Page[risk.Edge], error)
	Risk(ctx context.Context) ([]risk.Score, error)
}

// AuditSource is the audit log (*audit.Log): the method set of
// api.AuditService plus Checkpoint, which signs one now.
type AuditSource interface {
	Latest(ctx context.Context) (audit.Checkpoint, error)
	Prove(ctx context.Context, index uint64) (audit.InclusionProof, error)
	Lineage(ctx context.Context, txnID string) ([]audit.Hop, error)
	Checkpoint(ctx context.Context) (audit.Checkpoint, error)
}

var _ AuditSource = (*audit.Log)(nil)

// Health is the control plane's health as the overview shows it.
type Health struct {
	// DataPlanes is the number of data planes connected (-1: unknown).
	DataPlanes int
	// BusConnected reports whether the plane reaches its bus.
	BusConnected bool
	// EventLag is how far behind the newest stored event is (0: no event
	// yet).
	EventLag time.Duration
	// DroppedEvents counts events (alerts, call-graph deltas,
	// observations) dropped before they were stored.
	DroppedEvents uint64
	// Notes are extra facts worth showing ("audit log off").
	Notes []string
}

// Options configure the dashboard.
type Options struct {
	// Store holds events, the inventory, the connections and the audit
	// tables (required).
	Store store.Store
	// Discovery, when set, gives richer endpoint detail and the
	// reconstructed OpenAPI documents.
	Discovery *discovery.Engine
	// Graph serves the call graph and the risk; nil hides them.
	Graph GraphSource
	// Audit serves the audit log; nil hides it.
	Audit AuditSource
	// Health reports plane health; nil shows none.
	Health func() Health
	// Token is the admin token: full access (required).
	Token string
	// ReadToken is the read-only token; "" disables the read-only role.
	ReadToken string
	Logger    *slog.Logger
	// Now is the clock (time.Now by default; tests).
	Now func() time.Time
}

// Server serves the dashboard.
type Server struct {
	o     Options
	log   *slog.Logger
	pages map[string]*template.Template
	// assetVer is a digest of the static files, appended to their URLs so
	// browsers may cache them.
	assetVer string
	auth     *auth
	// bufs holds render buffers: a page is rendered whole before it is
	// sent, so a template error never leaves half a page.
	bufs sync.Pool
}

// handler serves one route; errors become error pages (writeError).
type handler func(w http.ResponseWriter, r *http.Request) error

// route is one registered pattern and how it is guarded.
type route struct {
	pattern string
	fn      handler
	// public routes need no session (login, static assets).
	public bool
	// fragment routes answer 401 without a session, not a redirect.
	fragment bool
	// anyRole lets read-only sessions use a non-GET route (logout).
	anyRole bool
}

// New checks o and parses the templates.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("ui: a store is required")
	}
	if o.Token == "" {
		return nil, errors.New("ui: the admin token is required")
	}
	if o.ReadToken == o.Token {
		return nil, errors.New("ui: the read-only token must differ from the admin token")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, log: o.Logger, auth: newAuth(o.Token, o.ReadToken, o.Now)}
	ver, err := digestFS(staticFS)
	if err != nil {
		return nil, err
	}
	s.assetVer = ver
	if s.pages, err = s.parsePages(); err != nil {
		return nil, err
	}
	return s, nil
}

// routes is the dashboard's route table: Register mounts it and the tests
// walk it.
func (s *Server) routes() []route {
	rs := []route{
		{pattern: "GET /ui/static/", fn: s.static, public: true},
		{pattern: "GET /ui/login", fn: s.loginPage, public: true},
		{pattern: "POST /ui/login", fn: s.login, public: true},
		{pattern: "POST /ui/logout", fn: s.logout, anyRole: true},
		{pattern: "GET /ui/inventory", fn: s.inventory},
		{pattern: "GET /ui/inventory/rows", fn: s.inventoryRows, fragment: true},
		{pattern: "GET /ui/endpoints/{id}", fn: s.endpoint},
		{pattern: "GET /ui/openapi", fn: s.openapi},
	}
	rs = append(rs, s.insightRoutes()...)
	return append(rs, route{pattern: "/ui/", fn: func(http.ResponseWriter, *http.Request) error { return notFound("page") }})
}

// Register mounts the dashboard on mux: /ui/ and below; GET /ui redirects
// to /ui/.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	have := map[string]bool{}
	for _, rt := range s.routes() {
		if have[rt.pattern] {
			s.log.Error("ui: duplicate route", "pattern", rt.pattern)
			continue
		}
		have[rt.pattern] = true
		mux.Handle(rt.pattern, s.wrap(rt))
	}
	if !have["GET /ui/{$}"] {
		mux.Handle("GET /ui/{$}", s.wrap(route{pattern: "GET /ui/{$}", fn: s.home}))
	}
}

// home is the overview until the insight pages provide one.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/ui/inventory", http.StatusSeeOther)
	return nil
}

// contentSecurityPolicy is sent with every response under /ui/.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// wrap adds the security headers, the session and CSRF checks and the one
// error-to-page mapping.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		if !rt.public {
			w.Header().Set("Cache-Control", "no-store")
		}
		err := func() error {
			if rt.public {
				return rt.fn(w, r)
			}
			sess, ok := s.auth.session(r)
			if !ok {
				if rt.fragment {
					return &pageError{status: http.StatusUnauthorized, id: "unauthorized", msg: "Sign in first."}
				}
				http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
				return nil
			}
			r = r.WithContext(withSession(r.Context(), sess))
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				if err := s.auth.checkChange(w, r, sess); err != nil {
					return err
				}
				if sess.Role != RoleAdmin && !rt.anyRole {
					return &pageError{status: http.StatusForbidden, id: "forbidden", msg: "A read-only session cannot change anything."}
				}
			}
			return rt.fn(w, r)
		}()
		if err != nil {
			s.writeError(w, r, rt, err)
		}
	})
}

// pageError is an error shown as a page with its status.
type pageError struct {
	status int
	id     string // element id of the message: not-found, bad-request, csrf-error, forbidden...
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// notFound is the 404 page for an unknown thing ("endpoint", "event").
func notFound(what string) error {
	return &pageError{status: http.StatusNotFound, id: "not-found", msg: "No such " + what + "."}
}

// badParam is the 400 page naming the query parameter that is wrong.
func badParam(name, format string, args ...any) error {
	return &pageError{status: http.StatusBadRequest, id: "bad-request",
		msg: fmt.Sprintf("Bad parameter %q: %s", name, fmt.Sprintf(format, args...))}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, rt route, err error) {
	var pe *pageError
	switch {
	case errors.As(err, &pe):
	case errors.Is(err, store.ErrNotFound):
		pe = notFound("item").(*pageError)
	case errors.Is(err, store.ErrBadCursor):
		pe = badParam("cursor", "not a cursor of this list").(*pageError)
	case errors.Is(err, context.Canceled):
		return
	default:
		s.log.Error("ui error", "path", r.URL.Path, "err", err)
		pe = &pageError{status: http.StatusInternalServerError, id: "internal-error", msg: "Internal error; the server log has the details."}
	}
	w.Header().Set("Cache-Control", "no-store")
	if pe.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "60")
	}
	if rt.fragment {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(pe.status)
		_, _ = w.Write([]byte(pe.msg + "\n"))
		return
	}
	if err := s.renderStatus(w, r, pe.status, "error", pe); err != nil {
		s.log.Error("ui: render error page", "err", err)
	}
}

// ErrorID is the error page's message element id (for the template).
func (e *pageError) ErrorID() string { return e.id }

// Message is the text shown (for the template).
func (e *pageError) Message() string { return e.msg }

// Status is the HTTP status (for the template).
func (e *pageError) Status() int { return e.status }

// view is what every page template gets.
type view struct {
	Nav      string // overview, inventory, findings, risk, audit
	Role     string // admin, read-only; "" when not signed in
	CSRF     string
	Data     any
	ReadOnly bool
	Path     string
}

// navOf is the nav entry a path belongs to.
func navOf(p string) string {
	switch {
	case strings.HasPrefix(p, "/ui/inventory"), strings.HasPrefix(p, "/ui/endpoints"), strings.HasPrefix(p, "/ui/openapi"):
		return "inventory"
	case strings.HasPrefix(p, "/ui/findings"), strings.HasPrefix(p, "/ui/events"):
		return "findings"
	case strings.HasPrefix(p, "/ui/risk"), strings.HasPrefix(p, "/ui/connections"):
		return "risk"
	case strings.HasPrefix(p, "/ui/audit"):
		return "audit"
	case p == "/ui/":
		return "overview"
	}
	return ""
}

// render writes templates/<page>.html inside the layout with status 200.
func (s *Server) render(w http.ResponseWriter, r *http.Request, page string, data any) error {
	return s.renderStatus(w, r, http.StatusOK, page, data)
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, page string, data any) error {
	t, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("ui: no template %q", page)
	}
	v := view{Nav: navOf(r.URL.Path), Data: data, Path: r.URL.Path}
	if sess, ok := sessionFrom(r.Context()); ok {
		v.Role, v.CSRF, v.ReadOnly = sess.Role, s.auth.csrfToken(sess), sess.Role != RoleAdmin
	}
	return s.execute(w, status, t, "layout", v)
}

// renderFragment writes the template block of templates/<page>.html alone
// (a polled fragment), with the same view as render.
func (s *Server) renderFragment(w http.ResponseWriter, r *http.Request, page, block string, data any) error {
	t, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("ui: no template %q", page)
	}
	v := view{Nav: navOf(r.URL.Path), Data: data, Path: r.URL.Path}
	if sess, ok := sessionFrom(r.Context()); ok {
		v.Role, v.CSRF, v.ReadOnly = sess.Role, s.auth.csrfToken(sess), sess.Role != RoleAdmin
	}
	return s.execute(w, http.StatusOK, t, block, v)
}

func (s *Server) execute(w http.ResponseWriter, status int, t *template.Template, name string, v view) error {
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	defer s.bufs.Put(buf)
	if err := t.ExecuteTemplate(buf, name, v); err != nil {
		return fmt.Errorf("ui: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// parsePages parses every templates/*.html (except the layout) with the
// layout and the partials.
func (s *Server) parsePages() (map[string]*template.Template, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	partials, err := fs.Glob(templateFS, "templates/partials/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t := template.New(name).Funcs(s.funcs())
		t, err := t.ParseFS(templateFS, append([]string{"templates/layout.html", f}, partials...)...)
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// funcs are the template functions every page may use.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		// asset is the versioned URL of a static file.
		"asset": func(name string) string { return "/ui/static/" + name + "?v=" + s.assetVer },
		// since is a short "3m ago" for a time ("never" for zero).
		"since": func(t time.Time) string { return ago(s.o.Now(), t) },
		// rfc3339 formats a time for a title attribute or <time>.
		"rfc3339": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		// json renders v indented (for <pre>).
		"json": func(v any) (string, error) {
			b, err := json.MarshalIndent(v, "", "  ")
			return string(b), err
		},
	}
}

// ago renders how long before now t was.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// static serves the embedded assets; versioned URLs may be cached.
func (s *Server) static(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(r.URL.Path, "/ui/static/")
	b, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil || name == "" || strings.Contains(name, "..") {
		return notFound("file")
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	if r.URL.Query().Get("v") == s.assetVer {
		w.Header().Set("Cache-Control", "public, max-age=86400, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	_, err = w.Write(b)
	return err
}

// digestFS is a short digest of every file in fsys.
func digestFS(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("ui: static files: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)[:6]), nil
}
