package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/server"
)

func TestReload(t *testing.T) {
	release := make(chan struct{})
	slowA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "a")
	}))
	t.Cleanup(slowA.Close)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") }))
	t.Cleanup(b.Close)
	c := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "c") }))
	t.Cleanup(c.Close)

	h := startGateway(t, baseConfig(slowA.URL, ""), server.Options{})
	body := func(path string) string {
		resp, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		bb, _ := io.ReadAll(resp.Body)
		return string(bb)
	}
	if got := body("/"); got != "a" {
		t.Fatalf("before reload: %q", got)
	}
	// An in-flight request on the old config...
	inflight := make(chan string)
	go func() { inflight <- body("/slow") }()
	time.Sleep(100 * time.Millisecond)

	// ...a good new config is swapped in...
	h.rewrite(baseConfig(b.URL, ""))
	if err := h.g.Reload(); err != nil {
		t.Fatalf("good reload rejected: %v", err)
	}
	if got := body("/"); got != "b" {
		t.Fatalf("after reload: %q, want b", got)
	}
	// ...and the in-flight request finishes on the old one.
	close(release)
	if got := <-inflight; got != "a" {
		t.Fatalf("in-flight request answered %q, want a (old config)", got)
	}

	// A bad config is rejected; the running one keeps serving.
	for _, bad := range []string{
		"mode: enforce\nlisten: {http: 127.0.0.1:0}\nroutes: [{name: x, upstream: 'ftp://nope'}]\n",
		"this: is: not: yaml: [",
		baseConfig(c.URL, "protect: {unknown_stage: {}}"),
	} {
		h.rewrite(bad)
		if err := h.g.Reload(); err == nil {
			t.Fatalf("bad config accepted: %q", bad)
		}
		if got := body("/"); got != "b" {
			t.Fatalf("after a rejected reload: %q, want b", got)
		}
	}
	if got := h.metric(`vigil_config_reloads_total{result="rejected"}`); got < 3 {
		t.Fatalf("rejected reloads metric %v", got)
	}

	// File changes and SIGHUP trigger reloads by themselves.
	ctx := t.Context()
	go h.g.WatchReloads(ctx)
	time.Sleep(100 * time.Millisecond)
	h.rewrite(baseConfig(c.URL, ""))
	waitFor(t, 3*time.Second, func() bool { return body("/") == "c" }, "file change did not reload the config")

	h.rewrite(baseConfig(b.URL, ""))
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, func() bool { return body("/") == "b" }, "SIGHUP did not reload the config")
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(msg)
}

func TestGracefulDrain(t *testing.T) {
	started := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "done")
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, baseConfig(up.URL, ""), server.Options{})
	res := make(chan string, 1)
	go func() {
		resp, err := http.Get(h.URL + "/work")
		if err != nil {
			res <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-started
	url := h.URL
	h.stop() // what SIGTERM does: drain, then stop
	if got := <-res; got != "200 done" {
		t.Fatalf("in-flight request during drain: %q", got)
	}
	if _, err := http.Get(url + "/after"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("new connection after drain: %v, want refused", err)
	}
	// The in-flight request's event was flushed before exit.
	if evs := readEventFile(t, h.events); len(evs) != 1 || evs[0].Request.Path != "/work" {
		t.Fatalf("events after drain: %+v", evs)
	}
}
