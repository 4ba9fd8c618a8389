package alert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// TestThroughControlPlanes: two control-plane replicas on one store, each
// with its own dispatcher to the same webhook: an alert both raise, a
// gateway's certificate alert both ingest (a redelivery) and a TLS 1.2
// transaction both ingest are each delivered once, signed, and the
// delivery is an alert_delivery event in the store.
func TestThroughControlPlanes(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{} // alert kind -> deliveries
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := alert.Verify([]byte("k"), r.Header.Get(alert.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p alert.WebhookPayload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		got[p.Alert.Kind]++
		mu.Unlock()
	}))
	defer rcv.Close()
	deliveries := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range got {
			out[k] = v
		}
		return out
	}

	st, err := store.Open(context.Background(), "sqlite", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf("events:\n  alerts:\n    dedup_window: 0s\n    sinks:\n      - {name: hook, type: webhook, url: %q, secret: k}\n", rcv.URL)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	log := slog.New(slog.DiscardHandler)
	var planes []*control.Plane
	for range 2 {
		d, err := alert.Start(ctx, cfg, alert.Options{Events: st, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		eng, err := discovery.New(discovery.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := control.New(control.Options{Store: st, Engine: eng, FeedEngine: true, RaiseAlerts: true, Alerts: d,
			FlushEvery: 50 * time.Millisecond, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		planes = append(planes, p)
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Run(ctx) }()
	}
	t0 := time.Now().UTC()
	shadow := discovery.Alert{Kind: "shadow_endpoint", Host: "shop.local", Method: "GET", Endpoint: "/debug/{parameter}",
		Detail: "not in any spec", Time: t0}
	tls12 := event.Event{TxnID: "t-tls12", Time: t0, Placement: "sidecar", Mode: "enforce", Decision: event.DecisionAllow,
		Source:      event.Source{IP: "10.0.0.7", Workload: "spiffe://demo.local/ns/shop/sa/order"},
		Destination: event.Destination{Host: "payments.example"}, Request: event.Request{Method: "POST", Path: "/charge"},
		Response: event.Response{Status: 200}, TLS: &event.TLS{Version: "1.2", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}}
	// A gateway's certificate alert, published on the bus: a plane that
	// raises discovery's alerts itself still stores and delivers it.
	cert := event.Event{Type: "alert", TxnID: "alert-cert-https-20260201T000000", Time: t0, Placement: "gateway",
		Decision: event.DecisionAllow, Alert: &event.Alert{Kind: "certificate_expiry", Host: "https", Detail: "expires soon"}}
	for _, p := range planes {
		if !p.Enqueue(discovery.AlertEvent(shadow)) {
			t.Fatal("alert not queued")
		}
		if err := p.Ingest(ctx, []event.Event{tls12, cert}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"shadow_endpoint": 1, "legacy_tls": 1, "certificate_expiry": 1}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if d := deliveries(); len(d) == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want %v", deliveries(), want)
		}
	}
	time.Sleep(200 * time.Millisecond) // a second delivery would show now
	if d := deliveries(); fmt.Sprint(d) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want each once: %v", d, want)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		page, err := st.ListEvents(ctx, store.EventFilter{Type: "alert_delivery"})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == len(want) {
			for _, ev := range page.Items {
				if d := ev.Delivery; d == nil || d.Status != alert.StatusDelivered || d.Sink != "hook" || d.Attempt != 1 || ev.ParentTxnID == "" {
					t.Fatalf("delivery event %+v %+v", ev, d)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d alert_delivery events stored, want %d", len(page.Items), len(want))
		}
	}
}

// TestThroughAllInOnePlane: under vigil up the gateway's discovery
// raises the alerts and the plane ingests them from the bus: a fresh one
// is delivered, a redelivered one not again.
func TestThroughAllInOnePlane(t *testing.T) {
	var mu sync.Mutex
	n := 0
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); n++; mu.Unlock() }))
	defer rcv.Close()
	st, err := store.Open(context.Background(), "sqlite", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf("events:\n  alerts:\n    dedup_window: 0s\n    sinks:\n      - {name: s, type: slack, url: %q}\n", rcv.URL)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := alert.Start(context.Background(), cfg, alert.Options{Events: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, err := control.New(control.Options{Store: st, Alerts: d, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ev := *discovery.AlertEvent(discovery.Alert{Kind: "certificate_expiry", Host: "https", Detail: "expires soon", Time: time.Now()})
	for range 2 {
		if err := p.Ingest(context.Background(), []event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); d.Stats()[0].Delivered < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v", d.Stats())
		}
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("receiver got %d, want 1", n)
	}
}
