package cli

import (
	"bytes"
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

	"github.com/vigil-sec/vigil/internal/config"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestUpServesDashboard: vigil up prints the dashboard URL, and the
// dashboard there signs in with the read-only token VIGIL_READ_TOKEN sets
// (over admin.read_token).
func TestUpServesDashboard(t *testing.T) {
	t.Setenv("VIGIL_ADMIN_TOKEN", "")
	t.Setenv("VIGIL_READ_TOKEN", "vgl_read_from_env")
	dir := t.TempDir()
	cfg, err := config.Parse([]byte("listen: {http: 127.0.0.1:0}\nadmin: {addr: 127.0.0.1:0, token: vgl_admin_cli, read_token: vgl_read_from_config}\n"+
		"data_dir: "+dir+"\nroutes: [{name: app, upstream: \"http://127.0.0.1:9\"}]\n"), "vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard, logLevel: "error"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runUp(ctx, e, cfg, "") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("vigil up: %v", err)
		}
	}()
	re := regexp.MustCompile(`dashboard:  (http://[^\s]+/ui/)\n`)
	var dash string
	for deadline := time.Now().Add(20 * time.Second); dash == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			dash = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no dashboard line:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	var page string
	for deadline := time.Now().Add(10 * time.Second); ; {
		res, err := c.Get(dash + "login")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				page = string(b)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("login page at %s: %v", dash, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatalf("login page:\n%s", page)
	}
	signIn := func(token string) string {
		res, err := c.PostForm(dash+"login", url.Values{"csrf": {csrf[1]}, "token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if body := signIn("vgl_read_from_config"); !strings.Contains(body, `id="login-error"`) {
		t.Fatal("the config's read_token signed in although VIGIL_READ_TOKEN overrides it")
	}
	if body := signIn("vgl_read_from_env"); !strings.Contains(body, `<span id="role" class="role role-read-only">read-only</span>`) {
		t.Fatalf("signed in with VIGIL_READ_TOKEN, the page does not say read-only:\n%.2000s", body)
	}
}
