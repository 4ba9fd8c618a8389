package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/server"
)

func rawRequest(t *testing.T, addr, req string) (*http.Response, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp, c
}

func TestAmbiguousFraming(t *testing.T) {
	hits := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, baseConfig(up.URL, ""), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")
	cases := []struct {
		name string
		req  string
		want int
	}{
		{"CL and TE", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE and CL, odd case", "POST /a HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-LENGTH: 3\r\n\r\n0\r\n\r\n", 400},
		{"duplicate equal CL", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", 400},
		{"plain CL", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 200},
		{"plain chunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hits
			resp, _ := rawRequest(t, addr, tc.req)
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 400 {
				if e := decodeError(t, resp); e.Error.Code != "ambiguous_framing" {
					t.Fatalf("code %q", e.Error.Code)
				}
				if hits != before {
					t.Fatal("the ambiguous request reached the upstream")
				}
				ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
				if ev.Decision != "block" || len(ev.Findings) == 0 || ev.Findings[0].Kind != "request_smuggling" {
					t.Fatalf("event %+v", ev)
				}
				if !resp.Close {
					t.Fatal("connection not closed after an ambiguous request")
				}
			}
		})
	}
	// On a keep-alive connection: good, good (chunked), then ambiguous.
	t.Run("keep-alive sequence", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"+
			"POST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"+
			"POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
		br := bufio.NewReader(c)
		for i, want := range []int{200, 200, 400} {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d: %v", i+1, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("response %d: status %d, want %d", i+1, resp.StatusCode, want)
			}
		}
	})
}

func TestSizeLimits(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		fmt.Fprint(w, n)
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, withListen(baseConfig(up.URL, ""), "limits: {max_header_bytes: 4KB, max_body_bytes: 64KB, max_inspect_bytes: 16KB}"), server.Options{})

	// 431: headers over the limit, answered by Vigil (JSON, event)...
	req, _ := http.NewRequest("GET", h.URL+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 5<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big headers: %d, want 431", resp.StatusCode)
	}
	if e := decodeError(t, resp); e.Error.Code != "headers_too_large" {
		t.Fatalf("code %q", e.Error.Code)
	}
	resp.Body.Close()
	if ev := h.eventFor(resp.Header.Get("Vigil-Txn")); ev.Response.Status != 431 || ev.Decision != "block" {
		t.Fatalf("event %+v", ev)
	}
	// ...and far over it, by net/http's backstop before any parsing.
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge headers: %d, want 431", resp.StatusCode)
	}

	// 413: declared body over the limit.
	resp, err = http.Post(h.URL+"/", "application/octet-stream", strings.NewReader(strings.Repeat("x", 100<<10)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 {
		t.Fatalf("big body: %d, want 413", resp.StatusCode)
	}
	if e := decodeError(t, resp); e.Error.Code != "body_too_large" {
		t.Fatalf("code %q", e.Error.Code)
	}
	resp.Body.Close()

	// 413: chunked body (no Content-Length) that turns out too large.
	req, _ = http.NewRequest("POST", h.URL+"/", io.MultiReader(strings.NewReader(strings.Repeat("x", 100<<10))))
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("big chunked body: %d, want 413", resp.StatusCode)
	}

	// Within limits: fine.
	resp, err = http.Post(h.URL+"/", "application/octet-stream", strings.NewReader(strings.Repeat("x", 32<<10)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != fmt.Sprint(32<<10) {
		t.Fatalf("normal body: %d %q", resp.StatusCode, b)
	}
}

func TestSlowClients(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, withListen(baseConfig(up.URL, ""), "limits: {read_header_timeout: 300ms, read_timeout: 300ms, idle_timeout: 500ms}"), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")

	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return true
	}
	for _, tc := range []struct {
		name string
		send string
	}{
		{"slowloris headers", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"},
		{"trickled body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"},
		{"idle keep-alive", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.send != "" {
				io.WriteString(c, tc.send)
			}
			start := time.Now()
			if !closedWithin(c, 3*time.Second) {
				t.Fatal("the gateway held a stalled connection open for 3s")
			}
			if d := time.Since(start); d < 200*time.Millisecond {
				t.Fatalf("closed after %v: too early", d)
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	a := echo(t, "a")
	h := startGateway(t, withListen(baseConfig(a.URL, ""), "limits: {max_connections: 2}"), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// A complete request keeps each connection open and accepted.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		held = append(held, c)
	}
	client := &http.Client{Timeout: 400 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := client.Get(h.URL + "/third"); err == nil {
		t.Fatal("a third concurrent connection was served past max_connections: 2")
	}
	held[0].Close()
	client.Timeout = 3 * time.Second
	resp, err := client.Get(h.URL + "/third")
	if err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	resp.Body.Close()
	held[1].Close()
}

func TestUpstreamFailures(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	h := startGateway(t, fmt.Sprintf(`
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
routes:
  - {name: dead, match: {path_prefix: /dead}, upstream: "http://%s"}
  - {name: slow, match: {path_prefix: /slow}, upstream: %s, timeout: 200ms}
events: {file: {{DIR}}/events.jsonl, flush_interval: 10ms}
`, dead, slow.URL), server.Options{})
	for _, tc := range []struct {
		path, code, route, kind string
		status                  int
	}{
		{"/dead", "bad_gateway", "dead", "refused", 502},
		{"/slow", "upstream_timeout", "slow", "timeout", 504},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(h.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d", resp.StatusCode, tc.status)
			}
			if e := decodeError(t, resp); e.Error.Code != tc.code {
				t.Fatalf("code %q", e.Error.Code)
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			if ev.Error == "" || ev.Response.Status != tc.status {
				t.Fatalf("event %+v", ev)
			}
			if got := h.metric(fmt.Sprintf(`vigil_upstream_errors_total{kind=%q,route=%q}`, tc.kind, tc.route)); got != 1 {
				t.Fatalf("upstream error metric = %v", got)
			}
		})
	}
}

// TestClientBodyErrors: when forwarding fails because of the client's own
// body, the answer names the client's fault (400, 408), not the
// upstream's (502, 504), and the event says so.
func TestClientBodyErrors(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, withListen(baseConfig(up.URL, ""), "limits: {read_timeout: 300ms}"), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")
	tests := []struct {
		name   string
		req    string
		status int
		code   string
	}{
		{"malformed chunk size", "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, "bad_request"},
		{"bare LF chunk lines", "POST /up HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n", 400, "bad_request"},
		{"body trickled past read_timeout", "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", 408, "request_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := rawRequest(t, addr, tc.req)
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if e := decodeError(t, resp); e.Error.Code != tc.code {
				t.Errorf("code %q, want %q", e.Error.Code, tc.code)
			}
		})
	}
}

// TestHalfClosedClient: a client that half-closes after its request makes
// net/http cancel the request. The gateway must not then answer with an
// empty 200 as if the upstream had: the connection is cut, and the event
// records 499.
func TestHalfClosedClient(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second): // far beyond the cancellation
			io.WriteString(w, "late")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, baseConfig(up.URL, ""), server.Options{})
	c, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if strings.HasPrefix(string(got), "HTTP/1.1 200") && !strings.Contains(string(got), "late") {
		t.Fatalf("an empty 200 was sent for a request the upstream never answered:\n%s", got)
	}
	evs := h.readEvents(1)
	if s := evs[0].Response.Status; s != 499 {
		t.Errorf("event status %d, want 499 (the client cancelled)", s)
	}
}
