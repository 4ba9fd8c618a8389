package demo

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// dashWatch is a browser on the demo's dashboard while the traffic runs:
// signed in with the printed link's token, polling the inventory rows
// (as static/live.js does) and the risk page.
type dashWatch struct {
	mu       sync.Mutex
	signedIn bool
	maxRows  int
	probe    bool   // a scanner's probe (/.env) was listed
	shadow   bool   // a shadow endpoint was listed (the probes are not in the shop's spec)
	risk     string // the last risk page
	stop     context.CancelFunc
	done     chan struct{}
}

var dashLink = regexp.MustCompile(`dashboard: +(http://\S+)/ui/login#token=(vgl_[0-9a-f]+)\n`)

// watchDashboard starts watching the dashboard the output's sign-in link
// names.
func watchDashboard(t *testing.T, output string) *dashWatch {
	m := dashLink.FindStringSubmatch(output)
	if m == nil {
		t.Errorf("the demo prints no dashboard sign-in link:\n%s", output)
		return nil
	}
	admin, token := m[1], m[2]
	ctx, cancel := context.WithCancel(context.Background())
	w := &dashWatch{stop: cancel, done: make(chan struct{})}
	var c *http.Client
	get := func(path string) (string, bool) {
		res, err := c.Get(admin + path)
		if err != nil {
			return "", false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res.StatusCode == http.StatusOK
	}
	row := regexp.MustCompile(`<tr class="endpoint" data-id=`)
	go func() {
		defer close(w.done)
		var page string
		c, page = dashSignIn(admin, token)
		w.mu.Lock()
		w.signedIn = strings.Contains(page, `<span id="role" class="role role-admin">admin</span>`)
		w.mu.Unlock()
		for ctx.Err() == nil {
			rows, ok := get("/ui/inventory/rows?q=/")
			risk, rok := get("/ui/risk")
			w.mu.Lock()
			if ok {
				w.maxRows = max(w.maxRows, len(row.FindAllString(rows, -1)))
				w.probe = w.probe || strings.Contains(rows, `>/.env</a>`)
				w.shadow = w.shadow || strings.Contains(rows, `badge-shadow`)
			}
			if rok {
				w.risk = risk
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	return w
}

// check stops the watch and reports what the dashboard did not show.
func (w *dashWatch) check(t *testing.T, orders int64) {
	if w == nil {
		return
	}
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.signedIn:
		t.Error("the dashboard link's token did not sign in")
	case w.maxRows == 0:
		t.Error("the dashboard's inventory stayed empty while the traffic ran")
	case !w.probe:
		t.Error("the dashboard's inventory does not list the scanner's probe of /.env")
	case !w.shadow:
		t.Error("the dashboard's inventory listed no shadow endpoint")
	case orders > 0 && !strings.Contains(w.risk, "payments.demo.local"):
		t.Errorf("the risk page does not show the order service's call to the payment provider:\n%.3000s", w.risk)
	}
}

// dashSignIn signs in to the dashboard at admin with token through the
// login form and returns the client and the page it landed on.
func dashSignIn(admin, token string) (*http.Client, string) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	res, err := c.Get(admin + "/ui/login")
	if err != nil {
		return c, ""
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
	if csrf == nil {
		return c, ""
	}
	res, err = c.PostForm(admin+"/ui/login", url.Values{"csrf": {csrf[1]}, "token": {token}})
	if err != nil {
		return c, ""
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	return c, string(b)
}

// dashboardRole signs in and returns the role the page shows ("" when
// the sign-in failed).
func dashboardRole(admin, token string) string {
	_, page := dashSignIn(admin, token)
	if m := regexp.MustCompile(`<span id="role" class="role role-[a-z-]+">([a-z-]+)</span>`).FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}
