package logs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const apacheLogs = "/work/shared/data/apache_logs"

func readAll(t testing.TB, r *Reader) []Record {
	t.Helper()
	var out []Record
	for {
		var rec Record
		err := r.Next(&rec)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, rec)
	}
}

func TestFormats(t *testing.T) {
	cet := time.FixedZone("", 3600)
	tests := []struct {
		file    string
		format  string
		records int
		broken  int64
		check   func(t *testing.T, recs []Record)
	}{
		{"combined.log", FormatCombined, 3, 2, func(t *testing.T, recs []Record) {
			r := recs[0]
			want := Record{Time: time.Date(2024, 1, 31, 12, 0, 1, 0, cet), Method: "GET", Path: "/cart/items/8812", Query: "x=1",
				Proto: "HTTP/1.1", Status: 200, RespBytes: 512, RemoteIP: "192.168.1.10", Referer: "https://shop.example/cart",
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}
			if !r.Time.Equal(want.Time) {
				t.Errorf("time = %v, want %v", r.Time, want.Time)
			}
			r.Time = want.Time
			if !equalRec(r, want) {
				t.Errorf("record 0 =\n%+v\nwant\n%+v", r, want)
			}
			if r := recs[1]; r.RemoteIP != "2001:db8::1" || r.RespBytes != 0 || r.UserAgent != `curl/8.5.0 "quoted" agent` || r.Referer != "" || r.Proto != "HTTP/2.0" {
				t.Errorf("record 1 = %+v", r)
			}
			if r := recs[2]; r.Host != "proxy.example:8080" || r.Path != "/products/42" || r.UserAgent != "Go-http-client/1.1" {
				t.Errorf("record 2 (absolute URI, quoted user, extra fields) = %+v", r)
			}
			if _, off := recs[2].Time.Zone(); off != -5*3600 {
				t.Errorf("zone offset = %d", off)
			}
		}},
		{"vhost.log", FormatCombined, 3, 0, func(t *testing.T, recs []Record) {
			want := []struct{ host, ip, path string }{
				{"shop.example", "192.168.1.10", "/cart/items/8812"},
				{"api.example", "10.0.0.2", "/orders"},
				{"2001:db8::5", "2001:db8::1", "/health"},
			}
			for i, w := range want {
				if r := recs[i]; r.Host != w.host || r.RemoteIP != w.ip || r.Path != w.path {
					t.Errorf("record %d (virtual host first) = %+v, want host %s ip %s path %s", i, r, w.host, w.ip, w.path)
				}
			}
		}},
		{"access.jsonl", FormatJSON, 7, 2, func(t *testing.T, recs []Record) {
			want := []struct {
				host, method, path, query string
				status                    int
				ip                        string
				at                        time.Time
			}{
				{"api.example", "GET", "/api/v1/users/42", "fields=name", 200, "192.168.1.10", time.Date(2024, 1, 31, 11, 0, 1, 0, time.UTC)},
				{"shop.example", "POST", "/cart/items", "", 201, "10.0.0.2", time.Date(2024, 1, 31, 11, 0, 2, 250e6, time.UTC)},
				{"traefik.example", "DELETE", "/orders/ORD-17", "", 404, "10.0.0.3", time.Date(2024, 1, 31, 11, 0, 3, 500e6, time.UTC)},
				{"kong.example", "PUT", "/products/9", "", 204, "10.0.0.4", time.Date(2024, 1, 31, 11, 0, 4, 0, time.UTC)},
				{"gcp.example", "PATCH", "/v2/items/77", "x=1", 200, "10.0.0.5", time.Date(2024, 1, 31, 11, 0, 5, 0, time.UTC)},
				{"ecs.example", "GET", "/health", "", 500, "10.0.0.6", time.Date(2024, 1, 31, 11, 0, 6, 0, time.UTC)},
				{"", "GET", "/search", "q=shoes", 200, "10.0.0.7", time.Date(2024, 1, 31, 11, 0, 7, 0, time.UTC)},
			}
			for i, w := range want {
				r := recs[i]
				if r.Host != w.host || r.Method != w.method || r.Path != w.path || r.Query != w.query || r.Status != w.status ||
					r.RemoteIP != w.ip || !r.Time.Equal(w.at) {
					t.Errorf("record %d = %+v\nwant %+v", i, r, w)
				}
			}
		}},
		{"common.log", FormatCommon, 3, 0, func(t *testing.T, recs []Record) {
			if r := recs[1]; r.Path != "/users/alice" || r.Status != 404 || r.RespBytes != 0 || r.UserAgent != "" {
				t.Errorf("record 1 = %+v", r)
			}
		}},
		{"envoy.jsonl", FormatEnvoyJSON, 2, 2, func(t *testing.T, recs []Record) {
			r := recs[0]
			if r.Method != "GET" || r.Path != "/products/42" || r.Query != "color=red" || r.Status != 200 || r.RespBytes != 512 ||
				r.Latency != 3*time.Millisecond || r.Host != "catalog:8082" || r.RemoteIP != "10.0.0.7" ||
				r.RequestID != "2b8c9e1a-0d43-4b1f-9a0e-7d3e5f0c1a22" || r.Proto != "HTTP/1.1" {
				t.Errorf("record 0 = %+v", r)
			}
			r = recs[1]
			if r.Path != "/order/add/17" || r.Status != 201 || r.ReqBytes != 88 || r.RemoteIP != "2001:db8::7" || r.UserAgent != "" || r.RequestID != "" {
				t.Errorf("record 1 (original path, string numbers) = %+v", r)
			}
		}},
		{"istio.jsonl", FormatEnvoyJSON, 1, 0, func(t *testing.T, recs []Record) {
			if r := recs[0]; r.Path != "/reviews/0" || r.Host != "reviews:9080" || r.RemoteIP != "10.244.0.9" || r.Latency != 6*time.Millisecond {
				t.Errorf("record 0 = %+v", r)
			}
		}},
		{"events.jsonl", FormatVigilEvents, 2, 1, func(t *testing.T, recs []Record) {
			r := recs[0]
			if r.Path != "/products/42" || r.Query != "q=1" || r.Endpoint != "/products/{parameter}" || r.Host != "catalog:8082" ||
				r.RespContentType != "application/json" || r.Latency != 1930*time.Microsecond || r.RemoteIP != "10.0.0.7" {
				t.Errorf("record 0 = %+v", r)
			}
			if r := recs[1]; r.Method != "POST" || r.ReqBytes != 42 || r.ReqContentType != "application/json" {
				t.Errorf("record 1 = %+v", r)
			}
		}},
		{"sample.har", FormatHAR, 2, 1, func(t *testing.T, recs []Record) {
			r := recs[0]
			if r.Method != "POST" || r.Host != "api.shop.example" || r.Path != "/cart/item/add/8812" || r.Query != "qty=2" ||
				r.Status != 201 || string(r.ReqBody) != `{"sku":"SOCK-1","qty":2}` || string(r.RespBody) != `{"ok":true}` ||
				r.Authorization != "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x" || r.ReqContentType != "application/json" ||
				r.RespContentType != "application/json; charset=utf-8" || r.Latency != 48500*time.Microsecond || r.ReqBytes != 24 {
				t.Errorf("record 0 = %+v", r)
			}
			if r := recs[1]; r.Path != "/users/alice%20b" || string(r.RespBody) != "{}" {
				t.Errorf("record 1 = %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := Open(filepath.Join("testdata", tt.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Format() != tt.format {
				t.Fatalf("format = %q, want %q", r.Format(), tt.format)
			}
			recs := readAll(t, r)
			if len(recs) != tt.records || r.Broken() != tt.broken {
				t.Fatalf("got %d records, %d broken; want %d, %d", len(recs), r.Broken(), tt.records, tt.broken)
			}
			if r.Lines() != int64(tt.records)+tt.broken {
				t.Errorf("lines = %d, want %d", r.Lines(), int64(tt.records)+tt.broken)
			}
			tt.check(t, recs)
		})
	}
}

func equalRec(a, b Record) bool {
	return a.Time.Equal(b.Time) && a.Host == b.Host && a.Method == b.Method && a.Path == b.Path && a.Query == b.Query &&
		a.Proto == b.Proto && a.Status == b.Status && a.ReqBytes == b.ReqBytes && a.RespBytes == b.RespBytes &&
		a.RemoteIP == b.RemoteIP && a.UserAgent == b.UserAgent && a.Referer == b.Referer
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzipAndStdin(t *testing.T) {
	plain, err := os.ReadFile("testdata/envoy.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// A gzip file without .gz suffix: detection is by magic bytes.
	name := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(name, gz(t, plain), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stdin io.Reader
	}{
		{name, nil},
		{"-", bytes.NewReader(gz(t, plain))},
		{"-", bytes.NewReader(plain)},
	} {
		r, err := Open(tc.name, tc.stdin)
		if err != nil {
			t.Fatal(err)
		}
		recs := readAll(t, r)
		if r.Format() != FormatEnvoyJSON || len(recs) != 2 || recs[1].Path != "/order/add/17" {
			t.Errorf("%s: format %q, %d records", tc.name, r.Format(), len(recs))
		}
		if r.BytesRead() == 0 {
			t.Errorf("%s: BytesRead = 0", tc.name)
		}
		_ = r.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("missing file: no error")
	}
	if _, err := NewReader(strings.NewReader("hello world\nfoo\n")); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("plain text: err = %v, want ErrUnknownFormat", err)
	}
	if _, err := NewReader(strings.NewReader("")); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("empty: err = %v, want ErrUnknownFormat", err)
	}
	if _, err := NewReader(bytes.NewReader([]byte{0x1f, 0x8b, 1, 2})); err == nil {
		t.Error("corrupt gzip: no error")
	}
}

func TestLongLineIsBrokenNotFatal(t *testing.T) {
	good := `1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.1" 200 1 "-" "x"` + "\n"
	long := `1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /` + strings.Repeat("a", 3*bufSize) + ` HTTP/1.1" 200 1 "-" "x"` + "\n"
	r, err := NewReader(strings.NewReader(good + long + good + long))
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, r)
	if len(recs) != 2 || r.Broken() != 2 || r.Lines() != 4 {
		t.Errorf("records %d broken %d lines %d; want 2, 2, 4", len(recs), r.Broken(), r.Lines())
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"\n\n", ""},
		{`{"log":{"entries":[]}}`, FormatHAR},
		{"{\n  \"log\": {}\n}", FormatHAR},
		{`{"txn_id":"a","request":{"method":"GET"}}`, FormatVigilEvents},
		{`{"method":"GET","path":"/"}`, FormatEnvoyJSON},
		{`{"foo":1}`, ""},
		{`{"request":{"method":"GET","uri":"/x","host":"h"},"status":200,"ts":1}`, FormatJSON},
		{`{"decision":"allow","request":{"method":"GET","path":"/x"}}`, FormatVigilEvents},
		{`{"request_method":"GET","request_uri":"/x","status":"200"}`, FormatJSON},
		{`{"request":"GET /x HTTP/1.1","status":200}`, FormatJSON},
		{`{"request_method":"GET"}`, ""},
		{"\n" + `1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1`, FormatCommon},
		{`1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"`, FormatCombined},
		{"garbage\n" + `1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"`, FormatCombined},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.in)); got != tt.want {
			t.Errorf("Sniff(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestApacheLogs reads the real 10,000-line log: every line parses.
func TestApacheLogs(t *testing.T) {
	r, err := Open(apacheLogs, nil)
	if err != nil {
		t.Skipf("real log unavailable: %v", err)
	}
	defer r.Close()
	recs := readAll(t, r)
	if r.Format() != FormatCombined {
		t.Errorf("format = %q", r.Format())
	}
	if r.Lines() != 10000 || r.Broken() != 0 || len(recs) != 10000 {
		t.Errorf("lines %d broken %d records %d; want 10000, 0, 10000", r.Lines(), r.Broken(), len(recs))
	}
	first := recs[0]
	if first.RemoteIP != "83.149.9.216" || first.Path != "/presentations/logstash-monitorama-2013/images/kibana-search.png" ||
		first.Status != 200 || first.RespBytes != 203023 || !first.Time.Equal(time.Date(2015, 5, 17, 10, 5, 3, 0, time.UTC)) {
		t.Errorf("first record = %+v", first)
	}
	for _, rec := range recs {
		if rec.Method == "" || rec.Path == "" || rec.Status == 0 || rec.Time.IsZero() {
			t.Fatalf("incomplete record %+v", rec)
		}
	}
}

func BenchmarkCombined(b *testing.B) {
	data, err := os.ReadFile(apacheLogs)
	if err != nil {
		b.Skipf("real log unavailable: %v", err)
	}
	lines := int64(bytes.Count(data, []byte("\n")))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var rec Record
	for i := 0; i < b.N; i++ {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for r.Next(&rec) == nil {
		}
	}
	b.ReportMetric(float64(lines*int64(b.N))/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(lines*int64(b.N)), "ns/line")
}
