package control

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/discovery"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// TestTLSAlerts: a caller on old TLS or a non-AEAD suite raises one alert
// per edge and weakness, stored once and notified once; TLS 1.3 none.
func TestTLSAlerts(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	var mu sync.Mutex
	var notified []discovery.Alert
	p := newPlane(t, Options{Store: st, Notify: func(a discovery.Alert) { mu.Lock(); notified = append(notified, a); mu.Unlock() }})
	now := time.Now().UTC()
	n := 0
	ev := func(src string, tls *event.TLS) event.Event {
		n++
		return event.Event{TxnID: fmt.Sprint("t", n), Time: now, Decision: "allow", Source: event.Source{IP: "10.0.0.2", Workload: src},
			Destination: event.Destination{Host: "payments.example"}, TLS: tls}
	}
	gcm12 := &event.TLS{Version: "1.2", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
	cbc12 := &event.TLS{Version: "1.2", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"}
	tls13 := &event.TLS{Version: "1.3", Cipher: "TLS_AES_128_GCM_SHA256"}
	batch := []event.Event{ev("spiffe://td/checkout", gcm12), ev("spiffe://td/checkout", gcm12), ev("spiffe://td/checkout", cbc12),
		ev("spiffe://td/cart", tls13), ev("spiffe://td/cart", nil)}
	if err := p.Ingest(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := p.Ingest(ctx, []event.Event{ev("spiffe://td/checkout", gcm12)}); err != nil {
		t.Fatal(err)
	}
	// A second replica (its own memory) stores nothing new and notifies nothing.
	p2 := newPlane(t, Options{Store: st, Notify: func(a discovery.Alert) { t.Errorf("replica 2 notified %+v", a) }})
	if err := p2.Ingest(ctx, []event.Event{ev("spiffe://td/checkout", gcm12)}); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListEvents(ctx, store.EventFilter{Type: "alert"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range page.Items {
		kinds = append(kinds, a.Alert.Kind)
		if a.Alert.Host != "payments.example" || a.TLS == nil || a.Alert.Detail == "" {
			t.Errorf("alert %+v", a)
		}
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"legacy_tls", "weak_cipher"}) {
		t.Fatalf("alerts %v, want legacy_tls and weak_cipher once each", kinds)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notified) != 2 {
		t.Fatalf("notified %+v, want 2", notified)
	}
}

// TestUpstreamTLSAlert: a data plane whose upstream hop is TLS 1.2 (a
// payment provider) raises legacy_tls although its client side is 1.3.
func TestUpstreamTLSAlert(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	p := newPlane(t, Options{Store: st})
	ev := event.Event{TxnID: "up1", Time: time.Now().UTC(), Decision: "allow", Placement: "sidecar",
		Source: event.Source{IP: "127.0.0.1"}, Destination: event.Destination{Host: "payments.example",
			TLS: &event.TLS{Version: "1.2", Cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}},
		TLS: &event.TLS{Version: "1.3", Cipher: "TLS_AES_128_GCM_SHA256", Intercepted: true}}
	if err := p.Ingest(ctx, []event.Event{ev}); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListEvents(ctx, store.EventFilter{Type: "alert"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Alert.Kind != "legacy_tls" || page.Items[0].TLS.Version != "1.2" {
		t.Fatalf("alerts %+v", page.Items)
	}
}
