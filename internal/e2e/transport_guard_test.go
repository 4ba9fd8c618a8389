package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/stage"
)

// TestH2CUpgradeStripped: an "Upgrade: h2c" request relayed to an
// upstream that accepts it would make the connection a tunnel no stage
// sees. The upgrade must never reach the upstream, with or without
// HTTP2-Settings, whatever else Connection and Upgrade list; a WebSocket
// offer beside it stays.
func TestH2CUpgradeStripped(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	// An upstream that would switch to anything it is offered.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		if strings.Contains(strings.ToLower(r.Header.Get("Upgrade")), "h2c") {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "h2c")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		io.WriteString(w, "plain "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	h := startGateway(t, baseConfig(up.URL, ""), server.Options{})
	addr := strings.TrimPrefix(h.URL, "http://")

	cases := []struct{ name, headers string }{
		{"h2c with settings", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"h2c without settings", "Connection: Upgrade\r\nUpgrade: h2c\r\n"},
		{"h2c upper case", "Connection: upgrade\r\nUpgrade: H2C\r\n"},
		{"settings alone", "Connection: HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"h2c among others", "Connection: Upgrade\r\nUpgrade: foo/1, h2c\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			req := "GET /first HTTP/1.1\r\nHost: x\r\n" + tc.headers + "\r\n"
			// A second request pipelined behind: if the first had become a
			// tunnel, it would go to the upstream unseen.
			req += "GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, req)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "plain /first" {
				t.Fatalf("first: %d %q, want 200 from the upstream without upgrade", resp.StatusCode, body)
			}
			if resp2, err := http.ReadResponse(br, nil); err == nil {
				b2, _ := io.ReadAll(resp2.Body)
				resp2.Body.Close()
				if resp2.StatusCode != 200 || string(b2) != "plain /second" {
					t.Fatalf("second: %d %q", resp2.StatusCode, b2)
				}
				if resp2.Header.Get("Vigil-Txn") == "" {
					t.Fatal("the pipelined request bypassed the gateway")
				}
			} // a closed connection is fine too: nothing passed unseen
			mu.Lock()
			defer mu.Unlock()
			for _, hd := range seen {
				if strings.Contains(strings.ToLower(hd.Get("Upgrade")), "h2c") || hd.Get("Http2-Settings") != "" {
					t.Fatalf("the upstream saw the upgrade: %v", hd)
				}
			}
			if tc.name == "h2c among others" && len(seen) > 0 && seen[0].Get("Upgrade") != "" {
				// foo/1 is not a protocol the gateway relays as a tunnel
				// without a 101; only h2c must be gone.
				if strings.Contains(strings.ToLower(seen[0].Get("Upgrade")), "h2c") {
					t.Fatalf("h2c kept: %q", seen[0].Get("Upgrade"))
				}
			}
			txn := resp.Header.Get("Vigil-Txn")
			ev := h.eventFor(txn)
			found := false
			for _, f := range ev.Findings {
				if f.Kind == "h2c_upgrade" && f.Action == "strip" {
					found = true
				}
			}
			if !found {
				t.Fatalf("no h2c_upgrade finding in %+v", ev.Findings)
			}
		})
	}
}

// TestSlowBodyCut: a body trickled at 1 byte/s is answered 408 within the
// configured limits while the gateway keeps serving everyone else; a body
// sent at a sane pace passes.
func TestSlowBodyCut(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d", n)
	}))
	t.Cleanup(up.Close)
	cases := []struct {
		name, limits string
		within       time.Duration
	}{
		// Each read arrives well inside read_timeout; only the rate or the
		// total deadline can stop it.
		{"min rate", "limits: {read_timeout: 10s, body_timeout: 60s, min_body_rate: 1KB, body_rate_grace: 1500ms}", 1500 * time.Millisecond},
		{"total deadline", "limits: {read_timeout: 10s, body_timeout: 2s, min_body_rate: off}", 2 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startGateway(t, withListen(baseConfig(up.URL, ""), tc.limits), server.Options{})
			addr := strings.TrimPrefix(h.URL, "http://")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
			stop := make(chan struct{})
			go func() {
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := c.Write([]byte("x")); err != nil {
							return
						}
					}
				}
			}()
			defer close(stop)

			// Meanwhile the gateway serves others, at full speed.
			var others atomic.Int32
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 5 {
						r, err := http.Post(h.URL+"/other", "text/plain", strings.NewReader(strings.Repeat("y", 4096)))
						if err == nil {
							b, _ := io.ReadAll(r.Body)
							r.Body.Close()
							if r.StatusCode == 200 && string(b) == "got 4096" {
								others.Add(1)
							}
						}
					}
				}()
			}

			_ = c.SetReadDeadline(time.Now().Add(tc.within + 3*time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			elapsed := time.Since(start)
			wg.Wait()
			if err != nil {
				t.Fatalf("no answer to the trickled body after %v: %v", elapsed, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("status %d, want 408", resp.StatusCode)
			}
			if elapsed > tc.within+1500*time.Millisecond {
				t.Fatalf("cut after %v, limit %v", elapsed, tc.within)
			}
			if others.Load() != 20 {
				t.Fatalf("only %d of 20 other requests were served while one trickled", others.Load())
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			if ev.Response.Status != 408 {
				t.Fatalf("event status %d", ev.Response.Status)
			}
			slow := false
			for _, f := range ev.Findings {
				slow = slow || f.Kind == "slow_body"
			}
			if !slow {
				t.Fatalf("no slow_body finding: %+v", ev.Findings)
			}
		})
	}
}

// respStage is a response inspector for the proxy's response hook: it
// strips "secret" fields, blocks responses that leak "PRIVATE KEY", and
// records what it was shown.
type respStage struct {
	mu        sync.Mutex
	bodies    []string
	truncated []bool
}

func (*respStage) Name() string  { return "respcheck" }
func (*respStage) Layer() string { return "openapi" }
func (*respStage) Request(context.Context, *pipeline.Txn) (pipeline.Verdict, error) {
	return pipeline.Continue, nil
}
func (*respStage) WantsResponse(tx *pipeline.Txn) bool { return tx.Resp.Status == 200 }
func (s *respStage) InspectResponse(_ context.Context, tx *pipeline.Txn) (pipeline.Verdict, error) {
	s.mu.Lock()
	s.bodies = append(s.bodies, string(tx.Resp.Body))
	s.truncated = append(s.truncated, tx.RespTruncated())
	s.mu.Unlock()
	if bytes.Contains(tx.Resp.Body, []byte("PRIVATE KEY")) {
		return pipeline.Verdict{Action: pipeline.Block, Status: 502, Kind: "data_leak", RuleID: "leak:key", Message: "the response carried a private key"}, nil
	}
	if i := bytes.Index(tx.Resp.Body, []byte(`,"secret":"`)); i >= 0 && !tx.RespTruncated() {
		j := bytes.IndexByte(tx.Resp.Body[i+11:], '"')
		out := append(append([]byte{}, tx.Resp.Body[:i]...), tx.Resp.Body[i+11+j+1:]...)
		tx.ReplaceResponseBody(out)
	}
	return pipeline.Continue, nil
}

func TestResponseInspection(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/user":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", `"v1"`)
			io.WriteString(w, `{"name":"jane","secret":"hunter2"}`)
		case "/key":
			io.WriteString(w, "-----BEGIN PRIVATE KEY-----\nMIIE...")
		case "/big":
			w.Write(bytes.Repeat([]byte("a"), 200<<10))
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				fl.Flush()
			}
		}
	}))
	t.Cleanup(up.Close)
	for _, mode := range []string{"enforce", "monitor"} {
		t.Run(mode, func(t *testing.T) {
			st := &respStage{}
			cfg := strings.Replace(baseConfig(up.URL, ""), "mode: enforce", "mode: "+mode, 1)
			h := startGateway(t, withListen(cfg, "limits: {response_inspect_bytes: 64KB}"), server.Options{Deps: stage.Deps{Custom: []pipeline.Stage{st}}})

			r, err := http.Get(h.URL + "/user")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if string(b) != `{"name":"jane"}` {
				t.Fatalf("stripped body = %q", b)
			}
			if r.ContentLength != int64(len(b)) || r.Header.Get("Etag") != "" {
				t.Fatalf("Content-Length %d, ETag %q after rewriting", r.ContentLength, r.Header.Get("Etag"))
			}

			r, err = http.Get(h.URL + "/key")
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(r.Body)
			r.Body.Close()
			ev := h.eventFor(r.Header.Get("Vigil-Txn"))
			if mode == "enforce" {
				if r.StatusCode != 502 || bytes.Contains(b, []byte("PRIVATE")) {
					t.Fatalf("leak answered %d %q", r.StatusCode, b)
				}
				if ev.Decision != "block" {
					t.Fatalf("decision %q", ev.Decision)
				}
			} else if r.StatusCode != 200 || !bytes.Contains(b, []byte("PRIVATE")) {
				t.Fatalf("monitor mode changed the response: %d %q", r.StatusCode, b)
			}
			var f *struct{ ok bool }
			for _, x := range ev.Findings {
				if x.RuleID == "leak:key" && x.Layer == "openapi" && x.WouldBlock == (mode == "monitor") {
					f = &struct{ ok bool }{true}
				}
			}
			if f == nil {
				t.Fatalf("no leak finding: %+v", ev.Findings)
			}

			// A body over the cap: the inspector sees a prefix, the client
			// gets every byte.
			r, err = http.Get(h.URL + "/big")
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if n != 200<<10 {
				t.Fatalf("big body: %d bytes arrived", n)
			}
			// A stream is never held back.
			r, err = http.Get(h.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(r.Body)
			r.Body.Close()
			if !bytes.Contains(b, []byte("data: 2")) {
				t.Fatalf("stream: %q", b)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if len(st.bodies) != 4 {
				t.Fatalf("inspector called %d times", len(st.bodies))
			}
			if len(st.bodies[2]) != 64<<10 || !st.truncated[2] {
				t.Fatalf("big body: inspector saw %d bytes, truncated=%v", len(st.bodies[2]), st.truncated[2])
			}
			if st.bodies[3] != "" || !st.truncated[3] {
				t.Fatalf("stream: inspector saw %q", st.bodies[3])
			}
		})
	}
}
