package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// recorder is an upstream that remembers the request line and host of
// every request it receives.
type recorder struct {
	*httptest.Server
	mu    sync.Mutex
	uris  []string // RequestURI as it arrived on the wire
	hosts []string
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.uris = append(rec.uris, r.RequestURI)
		rec.hosts = append(rec.hosts, r.Host)
		rec.mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) seen() (uris, hosts []string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.uris), slices.Clone(rec.hosts)
}

func (rec *recorder) reset() {
	rec.mu.Lock()
	rec.uris, rec.hosts = nil, nil
	rec.mu.Unlock()
}

// send writes one raw request on a new connection (net/http's client would
// clean these paths) and returns the response, its body read.
func send(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	resp, _ := rawRequest(t, addr, req)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func hasFinding(ev event.Event, kind string) bool {
	return slices.ContainsFunc(ev.Findings, func(f event.Finding) bool { return f.Kind == kind })
}

const loginLimit = `protect:
  rate_limits: [{name: login, path_prefix: /login, method: POST, requests: 2, per: 1m}]
`

// TestPathSpellingsStayRateLimited: once POST /login is rate limited, no
// other spelling of that path reaches the upstream, and the upstream only
// ever receives /login.
func TestPathSpellingsStayRateLimited(t *testing.T) {
	up := newRecorder(t)
	h := startGateway(t, baseConfig(up.URL, loginLimit), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")
	post := func(target string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 0\r\n\r\n"
	}
	for i, want := range []int{200, 200, 429} {
		if resp, body := send(t, addr, post("/login")); resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d: %s", i+1, resp.StatusCode, want, body)
		}
	}
	cases := []struct {
		target string
		want   int    // 429: normalized to /login and limited; 400: refused
		code   string // the error code
		path   string // request.path in the event
	}{
		{"//login", 429, "rate_limited", "/login"},
		{"/./login", 429, "rate_limited", "/login"},
		{"/x/../login", 429, "rate_limited", "/login"},
		{"/x/.%2e/login", 429, "rate_limited", "/login"},
		{"/x/%2E%2E/login", 429, "rate_limited", "/login"},
		{"/%6cogin", 429, "rate_limited", "/login"},
		{"/login/.", 429, "rate_limited", "/login/"},
		{"///x//..//login?a=1", 429, "rate_limited", "/login"},
		{"/%2e%2e/login", 400, "invalid_path", ""},
		{"/../login", 400, "invalid_path", ""},
		{"/admin%2f..%2flogin", 400, "invalid_path", ""},
		{"/admin%5C..%5Clogin", 400, "invalid_path", ""},
		{"/x\\..\\login", 400, "invalid_path", ""},
		{"/\\login", 400, "invalid_path", ""},
		{"/%252e%252e/login", 400, "invalid_path", ""},
		{"/x/%252e%252e/login", 400, "invalid_path", ""},
		{"/%c0%ae%c0%ae/login", 400, "invalid_path", ""},
		{"/x/%c0%ae%c0%ae/login", 400, "invalid_path", ""},
		{"/login%00", 400, "invalid_path", ""},
		{"/login%2500", 400, "invalid_path", ""},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			resp, body := send(t, addr, post(tc.target))
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if !strings.Contains(body, `"code":"`+tc.code+`"`) {
				t.Fatalf("body %s, want code %s", body, tc.code)
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			raw, _, _ := strings.Cut(tc.target, "?")
			if ev.Request.RawPath != raw || ev.Response.Status != tc.want {
				t.Fatalf("event raw_path %q status %d, want %q %d", ev.Request.RawPath, ev.Response.Status, raw, tc.want)
			}
			if tc.want == 429 && (ev.Request.Path != tc.path || !hasFinding(ev, "path_normalized")) {
				t.Fatalf("event path %q findings %+v", ev.Request.Path, ev.Findings)
			}
			if tc.want == 400 && (ev.Decision != "block" || !hasFinding(ev, "invalid_path") || !resp.Close) {
				t.Fatalf("event %+v, connection closed %v", ev, resp.Close)
			}
		})
	}
	uris, _ := up.seen()
	if !slices.Equal(uris, []string{"/login", "/login"}) {
		t.Fatalf("the upstream received %q, want only the two allowed /login", uris)
	}
	// A canonical request carries no raw_path and no finding.
	resp, _ := send(t, addr, "GET /products HTTP/1.1\r\nHost: shop.example\r\n\r\n")
	if ev := h.eventFor(resp.Header.Get("Vigil-Txn")); ev.Request.RawPath != "" || len(ev.Findings) != 0 {
		t.Fatalf("canonical request event %+v", ev.Request)
	}
}

// TestUpstreamReceivesCanonicalPath: what the upstream reads on its request
// line is the path the stages judged, for the lean forwarder, the
// ReverseProxy (upgrades) and an upstream with a base path, with each
// escaped_slashes action and case_insensitive_match.
func TestUpstreamReceivesCanonicalPath(t *testing.T) {
	up := newRecorder(t)
	get := func(target string, extra ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: shop.example\r\n" + strings.Join(extra, "") + "\r\n"
	}
	upgrade := []string{"Connection: Upgrade\r\n", "Upgrade: websocket\r\n"}
	for _, tc := range []struct {
		name, normalize, base string
		req                   string
		want                  int
		uri                   string // upstream RequestURI; "" when it must not be reached
	}{
		{"forwarder", "", "", get("//a/./b/../c?q=1"), 200, "/a/c?q=1"},
		{"unreserved decoded, hex upper-cased", "", "", get("/%7Euser/%e2%82%ac"), 200, "/~user/%E2%82%AC"},
		{"matrix params left alone", "", "", get("/a;jsessionid=1/b"), 200, "/a;jsessionid=1/b"},
		{"case left alone", "", "", get("/Login"), 200, "/Login"},
		{"ReverseProxy for upgrades", "", "", get("//ws/./chat", upgrade...), 200, "/ws/chat"},
		{"upstream base path", "", "/base/", get("/x//../y"), 200, "/base/y"},
		{"encoded slash rejected by default", "", "", get("/a%2Fb"), 400, ""},
		{"keep forwards encoded slashes as data", "{escaped_slashes: keep}", "", get("/files/a%2fb/./c\\d"), 200, "/files/a%2Fb/c%5Cd"},
		{"keep still resolves real dot segments", "{escaped_slashes: keep}", "", get("/x/../a%2F..%2Fb"), 200, "/a%2F..%2Fb"},
		{"decode_and_forward", "{escaped_slashes: decode_and_forward}", "", get("/admin%2f..%2flogin\\x"), 200, "/login/x"},
		{"decode_and_forward above root", "{escaped_slashes: decode_and_forward}", "", get("/a%2F..%2F..%2Fetc"), 400, ""},
		{"case_insensitive_match", "{case_insensitive_match: true}", "", get("/Api/%55sers/ID%2A"), 200, "/api/users/id%2A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(up.URL+tc.base, "")
			if tc.normalize != "" {
				cfg = withListen(cfg, "normalize: "+tc.normalize)
			}
			h := startGateway(t, cfg, server.Options{})
			up.reset()
			resp, body := send(t, strings.TrimPrefix(h.URL, "http://"), tc.req)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			uris, _ := up.seen()
			if tc.uri == "" && len(uris) > 0 || tc.uri != "" && !slices.Equal(uris, []string{tc.uri}) {
				t.Fatalf("upstream received %q, want %q", uris, tc.uri)
			}
			if tc.want == 200 {
				// The event has the client's spelling when it was rewritten.
				target := strings.Fields(tc.req)[1]
				raw, _, _ := strings.Cut(target, "?")
				uriPath, _, _ := strings.Cut(tc.uri, "?")
				rewritten := tc.base != "" || raw != uriPath
				ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
				if hasFinding(ev, "path_normalized") != rewritten || rewritten && ev.Request.RawPath != raw || !rewritten && ev.Request.RawPath != "" {
					t.Fatalf("event raw_path %q findings %+v", ev.Request.RawPath, ev.Findings)
				}
			}
		})
	}
}

// TestCanonicalHost: routes, stages and the event see one host spelling
// (the upstream gets the client's, which names the same host); an
// absolute-form target that names another host than Host is refused.
func TestCanonicalHost(t *testing.T) {
	shop, other := newRecorder(t), newRecorder(t)
	h := startGateway(t, fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
admin: 127.0.0.1:0
routes:
  - {name: shop, match: {host: shop.example, path_prefix: /}, upstream: %s}
  - {name: other, match: {host: "*", path_prefix: /}, upstream: %s}
events: {file: "{{DIR}}/events.jsonl", flush_interval: 10ms}
`, shop.URL, other.URL), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")
	for _, tc := range []struct {
		name, req string
		want      int
		route     string
		host      string // the event's destination.host
		upHost    string // the upstream's Host: the client's spelling
	}{
		{"mixed case, trailing dot, default port", "GET /x HTTP/1.1\r\nHost: SHOP.Example.:80\r\n\r\n", 200, "shop", "shop.example", "SHOP.Example.:80"},
		{"other port kept", "GET /x HTTP/1.1\r\nHost: shop.example:8080\r\n\r\n", 200, "shop", "shop.example:8080", "shop.example:8080"},
		{"absolute-form agreeing with Host", "GET http://Shop.Example/x HTTP/1.1\r\nHost: shop.example:80\r\n\r\n", 200, "shop", "shop.example", "Shop.Example"},
		{"absolute-form naming another host", "GET http://shop.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400, "", "", ""},
		{"absolute-form naming another port", "GET http://shop.example:81/x HTTP/1.1\r\nHost: shop.example\r\n\r\n", 400, "", "", ""},
		{"absolute-form with userinfo", "GET http://me@shop.example/x HTTP/1.1\r\nHost: shop.example\r\n\r\n", 400, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shop.reset()
			other.reset()
			resp, body := send(t, addr, tc.req)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			_, shopHosts := shop.seen()
			_, otherHosts := other.seen()
			if tc.want == 400 {
				if !strings.Contains(body, `"code":"host_mismatch"`) || !hasFinding(ev, "host_mismatch") || !resp.Close ||
					len(shopHosts)+len(otherHosts) > 0 {
					t.Fatalf("body %s, event %+v, upstreams reached %v %v", body, ev.Findings, shopHosts, otherHosts)
				}
				return
			}
			if ev.Route != tc.route || ev.Destination.Host != tc.host || !slices.Equal(shopHosts, []string{tc.upHost}) {
				t.Fatalf("route %q destination.host %q, upstream hosts %q; want %q %q %q", ev.Route, ev.Destination.Host, shopHosts, tc.route, tc.host, tc.upHost)
			}
		})
	}
}

// h2cRequest sends one HTTP/2 request (prior knowledge, no TLS) with the
// given header fields, in order, and returns the response status and
// Vigil-Txn. It speaks HTTP/2 frames directly: Go's client never sends a
// Host header next to :authority.
func h2cRequest(t *testing.T, addr string, fields ...string) (status, txn string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 {
				for _, hf := range f.Fields {
					switch hf.Name {
					case ":status":
						status = hf.Value
					case "vigil-txn":
						txn = hf.Value
					}
				}
				return status, txn
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			// A refusal closes the connection gracefully: the answer
			// to stream 1 still follows.
			if f.ErrCode != http2.ErrCodeNo {
				t.Fatalf("goaway: %v", f.ErrCode)
			}
		}
	}
}

// TestHTTP2AuthorityAgainstHost: over HTTP/2 net/http takes the host from
// :authority and leaves a separately sent host header in the request's
// headers; the two must agree.
func TestHTTP2AuthorityAgainstHost(t *testing.T) {
	up := newRecorder(t)
	h := startGateway(t, baseConfig(up.URL, ""), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")
	req := func(extra ...string) []string {
		return append([]string{":method", "GET", ":scheme", "http", ":authority", "Shop.Example:80", ":path", "//a/./b"}, extra...)
	}
	for _, tc := range []struct {
		name   string
		fields []string
		want   string
	}{
		{"only :authority", req(), "200"},
		{"host header agreeing", req("host", "shop.example"), "200"},
		{"host header naming another host", req("host", "evil.example"), "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up.reset()
			status, txn := h2cRequest(t, addr, tc.fields...)
			if status != tc.want {
				t.Fatalf("status %s, want %s", status, tc.want)
			}
			ev := h.eventFor(txn)
			uris, hosts := up.seen()
			if tc.want == "400" {
				if !hasFinding(ev, "host_mismatch") || len(uris) > 0 {
					t.Fatalf("findings %+v, upstream reached %q", ev.Findings, uris)
				}
				return
			}
			if !slices.Equal(uris, []string{"/a/b"}) || !slices.Equal(hosts, []string{"Shop.Example:80"}) ||
				ev.Destination.Host != "shop.example" || ev.Request.RawPath != "//a/./b" {
				t.Fatalf("upstream got %q %q; event host %q raw_path %q", uris, hosts, ev.Destination.Host, ev.Request.RawPath)
			}
		})
	}
	t.Run("Go's HTTP/2 client", func(t *testing.T) {
		up.reset()
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &p}
		defer tr.CloseIdleConnections()
		r, _ := http.NewRequest("GET", h.URL+"/x/%2e/y", nil)
		r.Host = "SHOP.example."
		resp, err := (&http.Client{Transport: tr}).Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		uris, hosts := up.seen()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !slices.Equal(uris, []string{"/x/y"}) || !slices.Equal(hosts, []string{"SHOP.example."}) {
			t.Fatalf("status %d proto %d, upstream got %q %q", resp.StatusCode, resp.ProtoMajor, uris, hosts)
		}
	})
}
