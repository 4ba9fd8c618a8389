package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"http://127.0.0.1:9000", ""},
		{"https://api.internal", ""},
		{"http://127.0.0.1:9000/base", ""},
		{"127.0.0.1:9000", "upstream: parse"},
		{"localhost:9000", "is not an http(s)://host[:port] URL"},
		{"ftp://127.0.0.1", "is not an http(s)://host[:port] URL"},
		{"http://", "is not an http(s)://host[:port] URL"},
		{"http://[::1", "upstream: parse"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := parseUpstream(tt.in)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9000", "https://h/p?q", "", "::", "http://[::1]:80", "HTTP://X"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseUpstream(s)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("accepted %q as scheme %q host %q", s, u.Scheme, u.Host)
		}
	})
}

// seen is what the upstream observed of one proxied request.
type seen struct {
	method, uri, host, body, xff, xfProto string
}

func newTestProxy(t testing.TB, upstream string) *httptest.Server {
	t.Helper()
	u, err := parseUpstream(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(u, 1024, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

func TestProxyForwards(t *testing.T) {
	got := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, string(b), r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto")}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	proxy := newTestProxy(t, up.URL)

	tests := []struct {
		name, method, path, body string
	}{
		{"get with query", http.MethodGet, "/products/42?expand=price&x=%2F", ""},
		{"post with body", http.MethodPost, "/cart/item/add/7", `{"qty":2}`},
		{"put root", http.MethodPut, "/", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, proxy.URL+tt.path, strings.NewReader(tt.body))
			req.Host = "shop.example"
			resp, err := proxy.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated || string(b) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("client got %d %q %q, want the upstream's 201 JSON answer", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			s := <-got
			want := seen{tt.method, tt.path, "shop.example", tt.body, "127.0.0.1", "http"}
			if s != want {
				t.Errorf("upstream saw %+v, want %+v", s, want)
			}
		})
	}
}

func TestProxyUpstreamDownIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	proxy := newTestProxy(t, dead)
	resp, err := proxy.Client().Get(proxy.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status = %d, want 502", resp.StatusCode)
	}
}

// TestProxyReusesUpstreamConnections is the point of the tuned transport:
// with C concurrent keep-alive clients the upstream must see about C
// connections, not one per request (the default MaxIdleConnsPerHost of 2
// would make it dial again and again).
func TestProxyReusesUpstreamConnections(t *testing.T) {
	var dials atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	proxy := newTestProxy(t, up.URL)

	const conns, perConn = 16, 25
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for range perConn {
				resp, err := client.Get(proxy.URL + "/")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := dials.Load(); n > 2*conns {
		t.Errorf("upstream saw %d connections for %d requests over %d client connections; want at most %d", n, conns*perConn, conns, 2*conns)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") }), pw)
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi" {
		t.Fatalf("body = %q", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after its context was cancelled")
	}
}

func BenchmarkProxyLoopback(b *testing.B) {
	body := strings.Repeat("x", 1024)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}))
	defer up.Close()
	proxy := newTestProxy(b, up.URL)
	u, _ := url.Parse(proxy.URL)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(u.String() + "/products")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
