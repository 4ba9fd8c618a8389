package event

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func sample() *Event {
	return &Event{
		TxnID: "01a2079162e7ff848d5d0c57f4ce6436", ParentTxnID: "p", TraceID: "0af7651916cd43dd8448eb211c80319c",
		Time: time.Date(2026, 1, 17, 12, 51, 3, 123456000, time.UTC), Placement: "gateway", Mode: "enforce", Route: "shop",
		Source:      Source{IP: "10.0.0.7", Country: "DE", Workload: "spiffe://demo.local/ns/shop/sa/cart"},
		Destination: Destination{Host: "catalog:8082", Upstream: "http://127.0.0.1:9002"},
		TLS:         &TLS{Version: "1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768", MTLS: true},
		Request:     Request{Method: "GET", Path: "/products/42", RawPath: "/x/..//products/%34%32", Endpoint: "/products/{parameter}", Query: "a=1&b=\"2\"", Bytes: 3, UserAgent: "ua\u2028x", Auth: "bearer_jwt", TokenID: "sha256:0011223344556677"},
		Response:    Response{Status: 200, Bytes: 512, ContentType: "application/json"},
		Identity:    &Identity{Sub: "user-17", TokenID: "sha256:abc", Scopes: []string{"cart", "read"}},
		Findings:    []Finding{{Stage: "waf", Layer: "waf", Action: "block", Variable: "ARGS:q", Data: "1 OR 1=1", Tags: []string{"attack-sqli", "OWASP_CRS"}, RuleID: "942100", Kind: "sqli", Severity: "critical", Message: "quote \" and \\ and \n", WouldBlock: true}},
		Decision:    "allow", Error: "x\x01y", Latency: Latency{Total: 1.93, Vigil: 0.21},
		Alert: &Alert{Kind: "new_endpoint", Host: "h", Method: "GET", Endpoint: "/x"},
		Audit: &AuditSig{KeyID: "3f2a", PublicKey: "vigil.audit/default+1a2b3c4d+AQ+/x=", Sig: "c2ln+/==",
			Batch: &AuditBatch{Size: 3, Index: 2, Path: []string{"aGFzaA==", "+/8="}}},
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, ev := range []*Event{sample(), {TxnID: "x", Time: time.Unix(0, 0)}, {Type: "alert", Alert: &Alert{Kind: "k"}},
		{TxnID: "u", Destination: Destination{Host: "h", TLS: &TLS{Version: "1.2", Cipher: "c", MTLS: true}}},
		{Type: "consent", Consent: &Consent{Action: "grant", ID: "cs_1", Subject: "u\"1", Grantee: "app", Scope: "s"}},
		{Type: "consent", Consent: &Consent{Action: "revoke", ID: "cs_1", Subject: "u", Grantee: "app", Scope: "*", Resource: "/orders/**",
			ExpiresAt: "2026-12-08T00:00:00Z"}}, {TxnID: "y", Audit: &AuditSig{}}, {TxnID: "z", Audit: &AuditSig{Batch: &AuditBatch{}}},
		{Type: "alert_delivery", Alert: &Alert{Kind: "legacy_tls"}, Delivery: &Delivery{Sink: "s\"1", SinkType: "webhook", Attempt: 2,
			Status: "retry", HTTPStatus: 503, Error: "503 Service Unavailable"}},
		{Type: "alert_delivery", Delivery: &Delivery{Sink: "siem", SinkType: "syslog", Status: "dropped"}}} {
		var fast, std Event
		line := ev.AppendJSON(nil)
		if err := json.Unmarshal(line, &fast); err != nil {
			t.Fatalf("AppendJSON wrote invalid JSON: %v\n%s", err, line)
		}
		ref, _ := json.Marshal(ev)
		_ = json.Unmarshal(ref, &std)
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("AppendJSON differs from encoding/json:\n fast %s\n std  %s", line, ref)
		}
		// Same keys present as encoding/json (omitempty rules).
		var a, b map[string]any
		_ = json.Unmarshal(line, &a)
		_ = json.Unmarshal(ref, &b)
		if !reflect.DeepEqual(keys(a), keys(b)) {
			t.Fatalf("keys differ: %v vs %v", keys(a), keys(b))
		}
	}
}

func keys(m map[string]any) []string {
	var k []string
	for key, v := range m {
		k = append(k, key)
		if sub, ok := v.(map[string]any); ok {
			for _, s := range keys(sub) {
				k = append(k, key+"."+s)
			}
		}
	}
	return sortStrings(k)
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("/products/42", "a=1", "ua", "msg")
	f.Add("\xff\xfe", "\u2028", "\x00", "\"\\")
	f.Fuzz(func(t *testing.T, path, query, ua, msg string) {
		ev := sample()
		ev.Request.Path, ev.Request.Query, ev.Request.UserAgent, ev.Findings[0].Message = path, query, ua, msg
		line := ev.AppendJSON(nil)
		var got Event
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("invalid JSON: %v: %q", err, line)
		}
		ref, _ := json.Marshal(ev)
		var want Event
		_ = json.Unmarshal(ref, &want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("mismatch\n%s\n%s", line, ref)
		}
	})
}

type blockingSink struct {
	mu      sync.Mutex
	release chan struct{}
	n       int
}

func (s *blockingSink) WriteEvents(b []*Event) error {
	<-s.release
	s.mu.Lock()
	s.n += len(b)
	s.mu.Unlock()
	return nil
}

func TestQueueDropsAndCounts(t *testing.T) {
	sink := &blockingSink{release: make(chan struct{})}
	q := NewQueue(QueueOptions{Capacity: 4, Flush: time.Hour}, sink)
	accepted := 0
	for range 100 {
		ev := Get()
		ev.TxnID = "x"
		if q.Enqueue(ev) {
			accepted++
		}
	}
	if q.Dropped() == 0 || uint64(accepted)+q.Dropped() != 100 {
		t.Fatalf("accepted %d dropped %d", accepted, q.Dropped())
	}
	close(sink.release)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sink.n != accepted || q.Written() != uint64(accepted) {
		t.Fatalf("sink got %d, written %d, accepted %d", sink.n, q.Written(), accepted)
	}
	// After Close, Enqueue refuses and counts.
	if q.Enqueue(Get()) {
		t.Fatal("closed queue accepted an event")
	}
}

func TestFileSink(t *testing.T) {
	var buf bytes.Buffer
	q := NewQueue(QueueOptions{Capacity: 16, Flush: time.Millisecond}, NewWriterSink(&buf))
	for i := range 10 {
		ev := Get()
		ev.TxnID = strings.Repeat("a", i+1)
		q.Enqueue(ev)
	}
	_ = q.Close(context.Background())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 10 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines {
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.TxnID != strings.Repeat("a", i+1) {
			t.Fatalf("line %d: %v %q", i, err, l)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	ev := sample()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
}
