package risk

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// call is a transaction event from src (a workload, or an address) to dst.
func call(src, ip, dst string, tls *event.TLS, id bool, decision string, findings ...event.Finding) *event.Event {
	ev := &event.Event{TxnID: "t", Time: t0, Source: event.Source{IP: ip, Workload: src}, Destination: event.Destination{Host: dst},
		TLS: tls, Decision: decision, Findings: findings}
	if id {
		ev.Identity = &event.Identity{Sub: "u1"}
	}
	return ev
}

var (
	mtls13 = &event.TLS{Version: "1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768", MTLS: true}
	tls12  = &event.TLS{Version: "1.2", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Group: "X25519"}
)

func TestSourceAndDestination(t *testing.T) {
	for _, tc := range []struct {
		ev       *event.Event
		src, dst string
	}{
		{call("spiffe://shop/cart", "10.0.0.4", "orders", nil, false, "allow"), "spiffe://shop/cart", "orders"},
		{call("", "203.0.113.7", "shop.example", nil, false, "allow"), External, "shop.example"},
		{call("", "10.1.2.3", "shop.example", nil, false, "allow"), Internal, "shop.example"},
		{call("", "127.0.0.1", "shop.example", nil, false, "allow"), Internal, "shop.example"},
		{call("", "::1", "shop.example", nil, false, "allow"), Internal, "shop.example"},
		{call("", "2001:db8::1", "shop.example", nil, false, "allow"), External, "shop.example"},
		{&event.Event{Source: event.Source{IP: "10.0.0.1"}, Destination: event.Destination{Host: "h", Workload: "spiffe://shop/orders"}},
			Internal, "spiffe://shop/orders"},
	} {
		if s, d := SourceOf(tc.ev), DestinationOf(tc.ev); s != tc.src || d != tc.dst {
			t.Errorf("%+v %+v: %s → %s, want %s → %s", tc.ev.Source, tc.ev.Destination, s, d, tc.src, tc.dst)
		}
	}
	for _, ev := range []*event.Event{
		{Type: "alert", Destination: event.Destination{Host: "h"}},
		{Type: "consent"},
		{Destination: event.Destination{}},
		// an app's plaintext call to its own sidecar
		{Placement: "sidecar", Source: event.Source{IP: "127.0.0.1"}, Destination: event.Destination{Host: "cart.internal"}},
	} {
		if Relevant(ev) {
			t.Errorf("%+v is not a call", ev)
		}
	}
}

func TestAggregatorCounts(t *testing.T) {
	a := NewAggregator()
	evs := []*event.Event{
		call("spiffe://shop/cart", "10.0.0.4", "orders", mtls13, true, "allow"),
		call("spiffe://shop/cart", "10.0.0.4", "orders", mtls13, false, "allow"), // mTLS alone is a verified identity
		call("", "203.0.113.7", "orders", nil, false, "block", event.Finding{Stage: "authz", Kind: "policy"}),
		call("", "203.0.113.7", "orders", tls12, true, "block", event.Finding{Stage: "waf", Kind: "sqli"}),
		{Type: "alert", Destination: event.Destination{Host: "orders"}},
	}
	for i, ev := range evs {
		ev.Time = t0.Add(time.Duration(i) * time.Second)
		a.Add(ev)
	}
	got := a.Drain()
	if len(got) != 2 {
		t.Fatalf("%d edges, want 2: %+v", len(got), got)
	}
	by := map[string]Edge{}
	for _, e := range got {
		by[e.Source] = e
		if e.ID != EdgeID(e.Source, e.Destination) {
			t.Errorf("edge id %s", e.ID)
		}
	}
	cart := by["spiffe://shop/cart"]
	if cart.Requests != 2 || cart.Authenticated != 2 || cart.MTLS != 2 || cart.TLS13 != 2 || cart.Plaintext != 0 || cart.Group != "X25519MLKEM768" {
		t.Errorf("cart edge %+v", cart)
	}
	ext := by[External]
	want := Edge{Requests: 2, Authenticated: 1, Plaintext: 1, LegacyTLS: 1, Refused: 1, External: 2, TLSVersion: "1.2"}
	if ext.Requests != want.Requests || ext.Authenticated != want.Authenticated || ext.Plaintext != want.Plaintext ||
		ext.LegacyTLS != want.LegacyTLS || ext.Refused != want.Refused || ext.External != want.External || ext.TLSVersion != "1.2" {
		t.Errorf("external edge %+v, want counters of %+v (a WAF block is an attack, not a refused caller)", ext, want)
	}
	if !ext.FirstSeen.Equal(t0.Add(2*time.Second)) || !ext.LastSeen.Equal(t0.Add(3*time.Second)) {
		t.Errorf("seen %v..%v", ext.FirstSeen, ext.LastSeen)
	}
	if again := a.Drain(); len(again) != 0 {
		t.Fatalf("drain did not start anew: %+v", again)
	}
	a.Restore(got)
	a.Add(call("spiffe://shop/cart", "10.0.0.4", "orders", mtls13, true, "allow"))
	for _, e := range a.Drain() {
		if e.Source == "spiffe://shop/cart" && e.Requests != 3 {
			t.Errorf("restored and counted: %d requests, want 3", e.Requests)
		}
	}
}

func TestAggregatorBoundedAndConcurrent(t *testing.T) {
	a := NewAggregator()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range MaxEdges/2 + 100 {
				a.Add(call(fmt.Sprint("spiffe://td/w", w, "-", i), "10.0.0.1", "dst", nil, false, "allow"))
			}
		}()
	}
	wg.Wait()
	if n := len(a.Drain()); n != MaxEdges {
		t.Fatalf("%d edges kept, want the bound %d", n, MaxEdges)
	}
	if d := a.Dropped(); d != 4*(MaxEdges/2+100)-MaxEdges {
		t.Fatalf("dropped %d", d)
	}
}

func codes(s Score) []string {
	var c []string
	for _, r := range s.Reasons {
		c = append(c, r.Code)
	}
	slices.Sort(c)
	return c
}

func TestAssess(t *testing.T) {
	edge := func(src string, n int, tls *event.TLS, id bool, refused int) Edge {
		a := NewAggregator()
		for i := range n {
			ev := call(src, "10.0.0.9", "orders", tls, id, "allow")
			if i < refused {
				ev.Decision = "block"
				ev.Findings = []event.Finding{{Stage: "connections"}}
			}
			a.Add(ev)
		}
		return a.Drain()[0]
	}
	ext := func(n int) Edge {
		a := NewAggregator()
		for range n {
			a.Add(call("", "198.51.100.3", "orders", tls12, false, "allow"))
		}
		return a.Drain()[0]
	}
	for _, tc := range []struct {
		name     string
		in       []Edge
		inv      Inventory
		min, max int
		level    string
		codes    []string
	}{
		{"mTLS 1.3 with identities, all protected", []Edge{edge("spiffe://td/cart", 100, mtls13, true, 0)},
			Inventory{Endpoints: 4}, 0, 0, "low", nil},
		{"plaintext and anonymous", []Edge{edge("spiffe://td/cart", 100, nil, false, 0)},
			Inventory{Endpoints: 4}, 55, 55, "high", []string{"no_mtls", "plaintext", "unauthenticated"}},
		{"the internet over TLS 1.2, sensitive, half unprotected", []Edge{ext(50)},
			Inventory{Endpoints: 4, Unprotected: 2, Sensitive: []string{"card", "email", "phone"}}, 70, 74, "high",
			[]string{"edge_exposure", "legacy_tls", "no_mtls", "sensitive_data", "unauthenticated", "unprotected_endpoints"}},
		{"refused callers", []Edge{edge("spiffe://td/cart", 95, mtls13, true, 0), edge("spiffe://td/ads", 5, mtls13, true, 5)},
			Inventory{}, 5, 5, "low", []string{"outside_rules"}},
		{"no traffic, sensitive inventory", nil, Inventory{Endpoints: 2, Sensitive: []string{"email"}}, 3, 4, "low", []string{"sensitive_data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Assess("orders", tc.in, tc.inv)
			if s.Score < tc.min || s.Score > tc.max || s.Level != tc.level || !slices.Equal(codes(s), tc.codes) {
				t.Fatalf("score %d %s reasons %+v; want %d..%d %s %v", s.Score, s.Level, s.Reasons, tc.min, tc.max, tc.level, tc.codes)
			}
			total := 0.0
			for i, r := range s.Reasons {
				total += r.Points
				if r.Detail == "" || (i > 0 && r.Points > s.Reasons[i-1].Points) {
					t.Errorf("reasons not described or not ordered by weight: %+v", s.Reasons)
				}
			}
			if d := total - float64(s.Score); d > 1 || d < -1 {
				t.Errorf("reasons add up to %.1f, score %d", total, s.Score)
			}
		})
	}
}

func TestAssessAllOrder(t *testing.T) {
	a := NewAggregator()
	a.Add(call("spiffe://td/a", "10.0.0.1", "safe", mtls13, true, "allow"))
	a.Add(call("", "203.0.113.1", "open", nil, false, "allow"))
	a.Add(call("", "203.0.113.2", "open", nil, false, "allow"))
	scores := AssessAll(a.Drain(), func(w string) Inventory {
		if w == "open" {
			return Inventory{Endpoints: 1, Sensitive: []string{"email"}}
		}
		return Inventory{}
	})
	if len(scores) != 2 || scores[0].Workload != "open" || scores[1].Workload != "safe" || scores[0].Score <= scores[1].Score {
		t.Fatalf("scores %+v, want the riskier first", scores)
	}
	if !slices.Equal(scores[0].Callers, []string{External}) || scores[0].Requests != 2 {
		t.Fatalf("open: %+v", scores[0])
	}
}

// TestAggregatorRefusesUnstorableNames: a name the store would refuse is
// dropped here, so one bad event cannot block every later flush.
func TestAggregatorRefusesUnstorableNames(t *testing.T) {
	a := NewAggregator()
	for _, dst := range []string{"bad\x00host", "\xff\xfe", strings.Repeat("h", MaxName+1)} {
		a.Add(call("", "10.0.0.1", dst, nil, false, "allow"))
	}
	ev := call("", "10.0.0.1", "ok", nil, false, "allow")
	ev.Time = time.Time{}
	a.Add(ev)
	got := a.Drain()
	if len(got) != 1 || got[0].Destination != "ok" || a.Dropped() != 3 || got[0].LastSeen.Year() < 2026 {
		t.Fatalf("edges %+v dropped %d", got, a.Dropped())
	}
}

// An intercepted call's edge carries the TLS of the connection that left
// for the destination, not the caller's leg to its own sidecar: an
// outside provider still on TLS 1.2 shows as legacy TLS on the graph.
func TestInterceptedEdgeUsesDestinationTLS(t *testing.T) {
	for _, tc := range []struct {
		name        string
		client, dst *event.TLS
		wantVersion string
		wantLegacy  int64
	}{
		{"intercepted, provider on 1.2", &event.TLS{Version: "1.3", Group: "X25519MLKEM768", Intercepted: true},
			&event.TLS{Version: "1.2", Cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, "1.2", 1},
		{"intercepted, no upstream facts", &event.TLS{Version: "1.3", Intercepted: true}, nil, "1.3", 0},
		{"not intercepted: the client's leg", &event.TLS{Version: "1.3"}, &event.TLS{Version: "1.2"}, "1.3", 0},
	} {
		var e Edge
		ev := event.Event{TLS: tc.client}
		ev.Destination.TLS = tc.dst
		e.Add(&ev)
		if e.TLSVersion != tc.wantVersion || e.LegacyTLS != tc.wantLegacy {
			t.Errorf("%s: version %q legacy %d, want %q %d", tc.name, e.TLSVersion, e.LegacyTLS, tc.wantVersion, tc.wantLegacy)
		}
	}
}
