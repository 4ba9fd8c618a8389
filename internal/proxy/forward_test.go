package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// upstreamSeen is what the test upstream reports about the request it got.
type upstreamSeen struct {
	path, rawQuery, host string
	header               http.Header
}

func newTestForwarder(t *testing.T, upstream string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	errh := func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
	}
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	f := &forwarder{target: target, rt: tr, bufs: newBufferPool(), errh: errh,
		upgrades: newReverseProxy(target, tr, Trust{}, newBufferPool(), errh)}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return s
}

func TestForwarder(t *testing.T) {
	seen := make(chan upstreamSeen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- upstreamSeen{path: r.URL.Path, rawQuery: r.URL.RawQuery, host: r.Host, header: r.Header.Clone()}
		switch r.URL.Query().Get("do") {
		case "hop":
			w.Header().Set("Connection", "X-Up-Hop")
			w.Header().Set("X-Up-Hop", "1")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("X-Kept", "yes")
		case "txn":
			w.Header().Set("Vigil-Txn", "forged")
		case "trailers":
			w.Header().Set("Trailer", "X-Announced")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "body")
			w.Header().Set("X-Announced", "a")
			w.Header().Set(http.TrailerPrefix+"X-Late", "b")
			return
		case "break":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "short")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)

	tests := []struct {
		name     string
		upstream string // base URL; default up.URL
		target   string
		header   map[string]string
		aborts   bool // the proxy may cut the connection before the status line
		check    func(t *testing.T, got upstreamSeen, resp *http.Response, body string, err error)
	}{
		{name: "hop-by-hop request headers stripped, named ones too",
			target: "/a", header: map[string]string{"Connection": "X-Hop, keep-alive", "X-Hop": "1", "Proxy-Authorization": "Basic eA==", "X-End": "1"},
			check: func(t *testing.T, got upstreamSeen, _ *http.Response, _ string, _ error) {
				for _, k := range []string{"X-Hop", "Proxy-Authorization", "Connection"} {
					if got.header.Get(k) != "" {
						t.Errorf("%s reached the upstream", k)
					}
				}
				if got.header.Get("X-End") != "1" {
					t.Error("end-to-end header lost")
				}
			}},
		{name: "trace headers survive being named in Connection", target: "/a",
			header: map[string]string{"Connection": "Traceparent, Vigil-Txn", "Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "Vigil-Txn": "t1"},
			check: func(t *testing.T, got upstreamSeen, _ *http.Response, _ string, _ error) {
				if got.header.Get("Traceparent") == "" || got.header.Get("Vigil-Txn") != "t1" {
					t.Errorf("trace headers stripped: %v", got.header)
				}
			}},
		{name: "te trailers kept, no Go user agent added", target: "/a", header: map[string]string{"Te": "trailers"},
			check: func(t *testing.T, got upstreamSeen, _ *http.Response, _ string, _ error) {
				if got.header.Get("Te") != "trailers" {
					t.Errorf("Te = %q", got.header.Get("Te"))
				}
				if ua, ok := got.header["User-Agent"]; ok {
					t.Errorf("User-Agent %q added", ua)
				}
			}},
		{name: "client host kept", target: "/a", header: map[string]string{"Host": "shop.example"},
			check: func(t *testing.T, got upstreamSeen, _ *http.Response, _ string, _ error) {
				if got.host != "shop.example" {
					t.Errorf("host %q", got.host)
				}
			}},
		{name: "upstream base path joined", upstream: "/base/", target: "/x/y?q=1",
			check: func(t *testing.T, got upstreamSeen, _ *http.Response, _ string, _ error) {
				if got.path != "/base/x/y" || got.rawQuery != "q=1" {
					t.Errorf("path %q query %q", got.path, got.rawQuery)
				}
			}},
		{name: "semicolon query re-encoded", target: "/a?a=1;b=2&c=3",
			check: func(t *testing.T, got upstreamSeen, _ *http.Response, _ string, _ error) {
				if strings.Contains(got.rawQuery, ";") || !strings.Contains(got.rawQuery, "c=3") {
					t.Errorf("query %q", got.rawQuery)
				}
			}},
		{name: "hop-by-hop response headers stripped", target: "/a?do=hop",
			check: func(t *testing.T, _ upstreamSeen, resp *http.Response, _ string, _ error) {
				if resp.Header.Get("X-Up-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
					t.Errorf("hop headers reached the client: %v", resp.Header)
				}
				if resp.Header.Get("X-Kept") != "yes" {
					t.Error("end-to-end response header lost")
				}
			}},
		{name: "upstream cannot forge the txn id", target: "/a?do=txn",
			check: func(t *testing.T, _ upstreamSeen, resp *http.Response, _ string, _ error) {
				if resp.Header.Get("Vigil-Txn") == "forged" {
					t.Error("upstream's Vigil-Txn reached the client")
				}
			}},
		{name: "announced and unannounced trailers", target: "/a?do=trailers",
			check: func(t *testing.T, _ upstreamSeen, resp *http.Response, body string, _ error) {
				if body != "body" || resp.Trailer.Get("X-Announced") != "a" || resp.Trailer.Get("X-Late") != "b" {
					t.Errorf("body %q trailers %v", body, resp.Trailer)
				}
			}},
		{name: "broken upstream body aborts the response", target: "/a?do=break", aborts: true,
			check: func(t *testing.T, _ upstreamSeen, _ *http.Response, body string, err error) {
				if err == nil {
					t.Errorf("client read a complete body %q from a broken upstream", body)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := up.URL + tc.upstream
			px := newTestForwarder(t, base)
			req, _ := http.NewRequest("GET", px.URL+tc.target, nil)
			for k, v := range tc.header {
				if k == "Host" {
					req.Host = v
					continue
				}
				req.Header.Set(k, v)
			}
			if tc.header["User-Agent"] == "" {
				req.Header["User-Agent"] = nil
			}
			var b []byte
			resp, rerr := http.DefaultTransport.RoundTrip(req)
			if rerr == nil {
				b, rerr = io.ReadAll(resp.Body)
				resp.Body.Close()
			} else if !tc.aborts {
				t.Fatal(rerr)
			}
			var got upstreamSeen
			select {
			case got = <-seen:
			default:
				t.Fatal("upstream not reached")
			}
			tc.check(t, got, resp, string(b), rerr)
		})
	}
}

// TestForwarderUpgradeAndBadSwitch: WebSocket-style upgrades go through
// (to the ReverseProxy), and an upstream that switches protocols on a
// request that asked for no upgrade gets a 502, not a hijacked socket.
func TestForwarderUpgradeAndBadSwitch(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo:" + line)
		_ = brw.Flush()
	}))
	t.Cleanup(up.Close)
	px := newTestForwarder(t, up.URL)
	addr := strings.TrimPrefix(px.URL, "http://")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	fmt.Fprintf(c, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo:hello\n" {
		t.Fatalf("upgraded stream answered %q", line)
	}

	resp2, err := http.Get(px.URL + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusBadGateway {
		t.Fatalf("unrequested 101: status %d, want 502", resp2.StatusCode)
	}
}

func TestNoCloseRefusesLateReads(t *testing.T) {
	nc := &noClose{r: io.NopCloser(strings.NewReader("data"))}
	if err := nc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Read(make([]byte, 4)); !errors.Is(err, errBodyClosed) {
		t.Fatalf("read after close: %v", err)
	}
}
