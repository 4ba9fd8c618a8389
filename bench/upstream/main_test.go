package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

func TestHandlerAnswersEveryRequest(t *testing.T) {
	srv := httptest.NewServer(newHandler())
	defer srv.Close()

	tests := []struct {
		name, method, path, body string
		wantBody                 bool
	}{
		{"root", http.MethodGet, "/", "", true},
		{"deep path with query", http.MethodGet, "/products/42?x=1", "", true},
		{"post with body", http.MethodPost, "/cart/item/add/7", `{"qty":2}`, true},
		{"delete", http.MethodDelete, "/users/1", "", true},
		{"head has no body", http.MethodHead, "/", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if resp.ContentLength < 900 || resp.ContentLength > 1200 {
				t.Errorf("Content-Length = %d, want about 1 KB", resp.ContentLength)
			}
			if !tt.wantBody {
				if len(b) != 0 {
					t.Errorf("HEAD body has %d bytes", len(b))
				}
				return
			}
			if int64(len(b)) != resp.ContentLength {
				t.Errorf("body is %d bytes, Content-Length says %d", len(b), resp.ContentLength)
			}
			var v struct {
				Items []map[string]any `json:"items"`
				Count int              `json:"count"`
			}
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if len(v.Items) != v.Count || v.Count == 0 {
				t.Errorf("items = %d, count = %d", len(v.Items), v.Count)
			}
		})
	}
}

func TestRunKeepsConnectionsAliveAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", pw) }()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))

	client := &http.Client{Timeout: 5 * time.Second}
	var reused []bool
	for range 3 {
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, "http://"+addr+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if want := []bool{false, true, true}; len(reused) != 3 || reused[1] != want[1] || reused[2] != want[2] {
		t.Errorf("connection reuse = %v, want %v (keep-alive)", reused, want)
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

// discardWriter is the least a ResponseWriter can be, so the benchmark
// measures the handler and not a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkHandler(b *testing.B) {
	h := newHandler()
	w := &discardWriter{h: http.Header{}}
	r := httptest.NewRequest(http.MethodGet, "/products", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func BenchmarkServerLoopback(b *testing.B) {
	srv := httptest.NewServer(newHandler())
	defer srv.Close()
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(srv.URL + "/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
