package storetest

import (
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Endpoints the generated events hit, in rotation.
var endpointsUsed = [...]struct{ method, path, template string }{
	{"GET", "/products/42", "/products/{parameter}"},
	{"GET", "/products", "/products"},
	{"POST", "/login", "/login"},
	{"POST", "/cart/item/add/7", "/cart/item/add/{parameter}"},
	{"GET", "/users/17", "/users/{parameter}"},
	{"POST", "/order/add/3", "/order/add/{parameter}"},
}

var decisions = [...]string{event.DecisionAllow, event.DecisionAllow, event.DecisionBlock, event.DecisionAllow, event.DecisionChallenge, event.DecisionStepUp}

// Events returns n deterministic, realistic events with txn_ids
// prefix-000000, prefix-000001, ...; event i happens i milliseconds before
// newest. Decisions and endpoints rotate (see Decision and Endpoint), every
// 10th event (i%10 == 9) is an "alert", and events in one group of three
// share a timestamp so ordering ties are exercised.
func Events(prefix string, n int, newest time.Time) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		e := endpointsUsed[i%len(endpointsUsed)]
		ev := event.Event{
			TxnID:       fmt.Sprintf("%s-%06d", prefix, i),
			TraceID:     fmt.Sprintf("%032x", i),
			Time:        newest.Add(-time.Duration(i/3*3) * time.Millisecond).UTC(),
			Placement:   "gateway",
			Mode:        "enforce",
			Route:       "shop",
			Source:      event.Source{IP: fmt.Sprintf("10.0.%d.%d", i/250%250, i%250+1)},
			Destination: event.Destination{Host: "shop.example", Upstream: "http://127.0.0.1:9000"},
			TLS:         &event.TLS{Version: "1.3", Cipher: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768"},
			Request: event.Request{Method: e.method, Path: e.path, Endpoint: e.template, Bytes: int64(i % 700),
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", Auth: "bearer_jwt"},
			Response: event.Response{Status: 200, Bytes: int64(512 + i%4096), ContentType: "application/json"},
			Identity: &event.Identity{Sub: fmt.Sprintf("user-%d", i%50), ClientID: "web", TokenID: "sha256:9f86d081884c7d65", Scopes: []string{"cart"}},
			Decision: Decision(i),
			Latency:  event.Latency{Total: 1.93, Vigil: 0.21},
		}
		if ev.Decision == event.DecisionBlock {
			ev.Response.Status = 403
			ev.Findings = []event.Finding{{Stage: "waf", RuleID: "942100", Kind: "sqli", Severity: "critical", Message: "SQL injection via libinjection"}}
		}
		if i%10 == 9 {
			ev.Type = "alert"
			ev.Alert = &event.Alert{Kind: "new_endpoint", Host: "shop.example", Method: e.method, Endpoint: e.template}
		}
		evs[i] = ev
	}
	return evs
}

// Decision is the decision of generated event i.
func Decision(i int) string { return decisions[i%len(decisions)] }

// Endpoint is the request.endpoint of generated event i.
func Endpoint(i int) string { return endpointsUsed[i%len(endpointsUsed)].template }
