package allinone

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
)

// countSink counts the gateway's events (Options.Sinks).
type countSink struct{ n chan int }

func (c countSink) WriteEvents(b []*event.Event) error { c.n <- len(b); return nil }

// browser is a cookie-keeping client of one dashboard.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, admin string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: admin, c: &http.Client{Jar: jar, Timeout: 5 * time.Second}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	res, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// signIn signs in with token and returns the page it lands on.
func (b *browser) signIn(token string) (int, string) {
	b.t.Helper()
	_, page := b.get("/ui/login")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("login page:\n%s", page)
	}
	res, err := b.c.PostForm(b.base+"/ui/login", url.Values{"csrf": {m[1]}, "token": {token}})
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestUpDashboard: vigil up serves the dashboard beside the API: the
// admin and read-only tokens sign in, traffic through the gateway shows
// in the inventory, the endpoint page has the engine's detail, and the
// extra event sinks see the gateway's events.
func TestUpDashboard(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":1,"email":"ann@example.com"}`)
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf("listen: {http: 127.0.0.1:0}\nadmin: {addr: 127.0.0.1:0, read_token: r34d}\ndata_dir: %s\n"+
		"discovery: {sample_rate: 1}\nroutes: [{name: main, upstream: %q}]\n", dir, up.URL)), "vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := countSink{n: make(chan int, 100)}
	s, err := Start(ctx, cfg, Options{Token: "t0ken", Logger: slog.New(slog.DiscardHandler), Sinks: []event.Sink{sink},
		Discovery: discovery.ServiceOptions{Settle: time.Millisecond}, FlushEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	gw := "http://" + s.DataPlane.G.Addr("http")
	admin := newBrowser(t, "http://"+s.AdminAddr())
	if code, body := admin.signIn("t0ken"); code != 200 || !strings.Contains(body, `<span id="role" class="role role-admin">admin</span>`) {
		t.Fatalf("admin sign-in: %d\n%.1500s", code, body)
	}
	reader := newBrowser(t, "http://"+s.AdminAddr())
	if code, body := reader.signIn("r34d"); code != 200 || !strings.Contains(body, `role-read-only">read-only</span>`) {
		t.Fatalf("read-only sign-in: %d\n%.1500s", code, body)
	}
	if code, _ := newBrowser(t, "http://"+s.AdminAddr()).signIn("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	for i := range 5 {
		res, err := http.Get(fmt.Sprintf("%s/customers/%d", gw, 100+i))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	row := regexp.MustCompile(`<tr class="endpoint" data-id="([0-9a-f]{16})">`)
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == ""; {
		_, body := reader.get("/ui/inventory/rows?q=customers")
		if m := row.FindStringSubmatch(body); m != nil {
			id = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the endpoint never reached the inventory:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := reader.get("/ui/endpoints/" + id)
	if code != 200 || !strings.Contains(body, "/customers/{parameter}") || !strings.Contains(body, `id="download-openapi"`) ||
		!strings.Contains(body, "response.body.email") {
		t.Fatalf("endpoint page: %d\n%s", code, body)
	}
	var seen int
	for seen < 5 {
		select {
		case n := <-sink.n:
			seen += n
		case <-time.After(5 * time.Second):
			t.Fatalf("the extra sink saw %d events, want 5", seen)
		}
	}
	h := s.health()
	if h.DataPlanes != 1 || !h.BusConnected || h.EventLag <= 0 {
		t.Fatalf("health %+v: want the in-process gateway, the bus, an event lag", h)
	}
}

// TestControlDashboard: vigil control serves the dashboard too.
func TestControlDashboard(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf("admin: {addr: 127.0.0.1:0}\ndata_dir: %s\nstore: sqlite\nbus: embedded\n", dir)), "vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := StartControl(ctx, cfg, Options{Token: "t0ken", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	b := newBrowser(t, "http://"+s.AdminAddr())
	code, body := b.signIn("t0ken")
	if code != 200 || !strings.Contains(body, `role-admin">admin</span>`) {
		t.Fatalf("sign-in on vigil control: %d\n%.1500s", code, body)
	}
	if code, body := b.get("/ui/inventory"); code != 200 || !strings.Contains(body, `<span id="inventory-count">0</span>`) {
		t.Fatalf("inventory: %d\n%.1500s", code, body)
	}
	if h := s.health(); h.DataPlanes != 0 || !h.BusConnected {
		t.Fatalf("health %+v", h)
	}
}

// TestDashboardTokensMustDiffer: a read-only token equal to the admin
// token is refused at start.
func TestDashboardTokensMustDiffer(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf("admin: {addr: 127.0.0.1:0, read_token: same}\ndata_dir: %s\nbus: embedded\n", dir)), "vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = StartControl(context.Background(), cfg, Options{Token: "same", Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "read-only token must differ") {
		t.Fatalf("err = %v", err)
	}
}
