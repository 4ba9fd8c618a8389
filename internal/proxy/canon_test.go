package proxy

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/metrics"
	"github.com/vigil-sec/vigil/internal/pathnorm"
	"github.com/vigil-sec/vigil/internal/stage"
)

// parseRequest reads a raw request line as net/http's server would.
func parseRequest(t testing.TB, target string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	return r
}

func TestCanonicalPath(t *testing.T) {
	keep := pathnorm.Options{EscapedSlashes: pathnorm.Keep}
	for _, tc := range []struct {
		target         string
		o              pathnorm.Options
		path, escaped  string // r.URL after normalization
		raw            string
		changed        bool
		err            error
		uri            string // what the upstream's request line carries
		skipNormalized bool
	}{
		{target: "/login", path: "/login", escaped: "/login", raw: "/login", uri: "/login"},
		{target: "//login?a=1", path: "/login", escaped: "/login", raw: "//login", changed: true, uri: "/login?a=1"},
		{target: "/x/../login", path: "/login", escaped: "/login", raw: "/x/../login", changed: true, uri: "/login"},
		{target: "/%6cogin/./", path: "/login/", escaped: "/login/", raw: "/%6cogin/./", changed: true, uri: "/login/"},
		{target: "/a%2fb", o: keep, path: "/a/b", escaped: "/a%2Fb", raw: "/a%2fb", changed: true, uri: "/a%2Fb"},
		{target: "/a\\b", o: keep, path: "/a\\b", escaped: "/a%5Cb", raw: "/a\\b", changed: true, uri: "/a%5Cb"},
		{target: "/it's(1)", path: "/it's(1)", escaped: "/it's(1)", raw: "/it's(1)", uri: "/it's(1)"},
		{target: "/a%20b/%7e", path: "/a b/~", escaped: "/a%20b/~", raw: "/a%20b/%7e", changed: true, uri: "/a%20b/~"},
		{target: "http://a.example//x/./y?q", path: "/x/y", escaped: "/x/y", raw: "//x/./y", changed: true, uri: "/x/y?q"},
		{target: "http://a.example", path: "/", escaped: "/", raw: "", uri: "/"},
		{target: "/%2e%2e/login", raw: "/%2e%2e/login", err: pathnorm.ErrAboveRoot},
		{target: "/admin%2f..%2flogin", raw: "/admin%2f..%2flogin", err: pathnorm.ErrEscapedSlash},
		{target: "*", skipNormalized: true},
	} {
		r := parseRequest(t, tc.target)
		raw, ch, err := canonicalPath(r, tc.o)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || raw != tc.raw {
				t.Errorf("%s: raw %q err %v, want %q %v", tc.target, raw, err, tc.raw, tc.err)
			}
			continue
		}
		if err != nil || raw != tc.raw || (ch != 0) != tc.changed {
			t.Errorf("%s: raw %q changes %s err %v", tc.target, raw, ch, err)
			continue
		}
		if tc.skipNormalized {
			continue
		}
		if r.URL.Path != tc.path || r.URL.EscapedPath() != tc.escaped {
			t.Errorf("%s: URL path %q escaped %q, want %q %q", tc.target, r.URL.Path, r.URL.EscapedPath(), tc.path, tc.escaped)
		}
		if got := r.URL.RequestURI(); got != tc.uri {
			t.Errorf("%s: upstream request URI %q, want %q", tc.target, got, tc.uri)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	for _, tc := range []struct {
		host   string
		proto  int
		header []string // a separate Host header (HTTP/2)
		want   string
		bad    bool
	}{
		{host: "Shop.Example.:80", proto: 1, want: "shop.example"},
		{host: "shop.example:8080", proto: 1, want: "shop.example:8080"},
		{host: "shop.example", proto: 2, want: "shop.example"},
		{host: "shop.example", proto: 2, header: []string{"SHOP.example:80"}, want: "shop.example"},
		{host: "shop.example", proto: 2, header: []string{"evil.example"}, bad: true},
		{host: "shop.example", proto: 2, header: []string{"shop.example", "shop.example"}, bad: true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host, r.ProtoMajor = tc.host, tc.proto
		if tc.header != nil {
			r.Header["Host"] = tc.header
		}
		v, bad := canonicalHost(r)
		if bad != tc.bad || (!bad && r.Host != tc.want) {
			t.Errorf("%+v: host %q bad %v %+v", tc, r.Host, bad, v)
		}
		if bad && v.Code != "host_mismatch" {
			t.Errorf("%+v: violation %+v", tc, v)
		}
		if !bad && r.Header["Host"] != nil {
			t.Errorf("%+v: Host header left for the upstream", tc)
		}
	}
}

func TestFramingHostMismatch(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, tc := range []struct {
		name string
		data string
		bad  int64
	}{
		{"origin-form, any Host", "GET /x HTTP/1.1\r\nHost: b.example\r\n\r\n", 0},
		{"absolute-form, same host", "GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", 0},
		{"absolute-form, same host spelled differently", "GET http://A.example./x HTTP/1.1\r\nHost: a.EXAMPLE:80\r\n\r\n", 0},
		{"absolute-form https default port", "GET https://a.example:443/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 0},
		{"absolute-form without a path", "GET http://a.example?x HTTP/1.1\r\nHost: a.example\r\n\r\n", 0},
		{"CONNECT authority-form", "CONNECT a.example:443 HTTP/1.1\r\nHost: b.example\r\n\r\n", 0},
		{"absolute-form, other host", "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", 1},
		{"absolute-form, other port", "GET http://a.example:8080/x HTTP/1.1\r\nHost: a.example\r\n\r\n", 1},
		{"absolute-form, https port on http", "GET http://a.example/x HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 1},
		{"userinfo", "GET http://u@a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", 1},
		{"second request disagrees", "GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET http://a/x HTTP/1.1\r\nHost: b\r\n\r\n", 2},
		{"authority too long to check", "GET http://" + long + "/x HTTP/1.1\r\nHost: " + long + "\r\n\r\n", 1},
	} {
		for _, step := range []int{1, 5, 1 << 20} {
			if bad, _ := scanAll(tc.data, step); bad != tc.bad {
				t.Errorf("%s (step %d): bad=%d, want %d", tc.name, step, bad, tc.bad)
			}
		}
	}
	c := &FramingConn{}
	c.scan([]byte("GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n"))
	if v, bad := c.NextRequest(); !bad || v.Code != "host_mismatch" || v.Kind != "host_mismatch" ||
		!strings.Contains(v.Message, `"a.example"`) || !strings.Contains(v.Message, `"b.example"`) {
		t.Fatalf("violation %v %+v", bad, v)
	}
}

// stubTransport answers every request at once, recording its request URI.
type stubTransport struct{ uri string }

func (s *stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.uri = r.URL.RequestURI()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Request: r}, nil
}

type discardEvents struct{}

func (discardEvents) Enqueue(ev *event.Event) bool { event.Put(ev); return true }

// benchHandler is a handler over one route with ip_rules and rate_limit,
// whose upstream is a stub.
func benchHandler(tb testing.TB) (*Handler, *stubTransport) {
	cfg, err := config.Parse([]byte(`
listen: {http: 127.0.0.1:0}
routes: [{name: bench, upstream: "http://127.0.0.1:1"}]
protect:
  ip_rules: {deny: [203.0.113.0/24]}
  rate_limits: [{name: all, requests: 1000000000, per: 1s}]
`), "bench.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	set, err := stage.New(cfg, stage.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := NewRuntime(cfg, set, metrics.New(), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rt.Close)
	st := &stubTransport{}
	rt.routes[0].proxy.(*forwarder).rt = st
	return NewHandler(rt, discardEvents{}, metrics.New(), slog.New(slog.DiscardHandler), "gateway"), st
}

func TestHandlerForwardsCanonicalPath(t *testing.T) {
	h, st := benchHandler(t)
	r := parseRequest(t, "/api/./v1//users/%34%32")
	r.RemoteAddr = "192.0.2.1:1234"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || st.uri != "/api/v1/users/42" {
		t.Fatalf("status %d, upstream got %q", w.Code, st.uri)
	}
	r = parseRequest(t, "/a/%2e%2e/%2e%2e/b")
	r.RemoteAddr = "192.0.2.1:1234"
	w = httptest.NewRecorder()
	st.uri = ""
	h.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Body)
	if w.Code != 400 || st.uri != "" || !strings.Contains(string(body), `"code":"invalid_path"`) {
		t.Fatalf("status %d, upstream got %q: %s", w.Code, st.uri, body)
	}
}

// nopWriter is a reusable ResponseWriter that discards the response.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkServeHTTP measures the handler with a canonical path (the
// normalization must add no allocation) and with one it rewrites. The
// path comes from RequestURI, so reusing the request normalizes it anew
// every time.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct{ name, target string }{
		{"canonical", "/products/42?x=1"},
		{"normalized", "/products/./x/..//42?x=1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, _ := benchHandler(b)
			r := parseRequest(b, bc.target)
			r.RemoteAddr = "192.0.2.1:1234"
			r.Header.Set("User-Agent", "bench")
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}
