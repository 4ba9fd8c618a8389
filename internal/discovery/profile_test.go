package discovery

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestProfilesSinceAndApply(t *testing.T) {
	// Two data planes see different fields of the same endpoint.
	planes := []struct {
		body, resp string
	}{
		{`{"email":"a%d@example.com","qty":%d}`, `{"id":%d}`},
		{`{"email":"b%d@example.com","qty":%d,"card":"4111 1111 1111 1111"}`, `{"id":%d,"note":"x"}`},
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var profiles []*Profile
	for _, pl := range planes {
		e, err := New(Options{SampleRate: 1})
		if err != nil {
			t.Fatal(err)
		}
		e.Observe(&Observation{Time: t0, Host: "api.local", Method: "GET", Path: "/health", Status: 200})
		for i := range 5 {
			e.Observe(&Observation{Time: t0, Host: "api.local", Method: "POST", Path: fmt.Sprintf("/orders/%d", 100+i), Status: 201,
				ReqType: "application/json", ReqBody: fmt.Appendf(nil, pl.body, i, i),
				RespType: "application/json", RespBody: fmt.Appendf(nil, pl.resp, i)})
		}
		ups := e.ProfilesSince(nil)
		if len(ups) != 1 {
			t.Fatalf("%d profiles, want 1 (the endpoint without bodies has none)", len(ups))
		}
		sent := map[string]int64{ups[0].ID: ups[0].Version}
		if again := e.ProfilesSince(sent); len(again) != 0 {
			t.Fatalf("unchanged profile sent again: %d", len(again))
		}
		e.Observe(&Observation{Time: t0, Host: "api.local", Method: "POST", Path: "/orders/200", Status: 201,
			ReqType: "application/json", ReqBody: fmt.Appendf(nil, pl.body, 9, 9)})
		if again := e.ProfilesSince(sent); len(again) != 1 || again[0].Version <= sent[ups[0].ID] {
			t.Fatalf("a new body did not make the profile due: %+v", again)
		}
		var p Profile // as the control plane receives it: through JSON
		if err := json.Unmarshal(ups[0].JSON, &p); err != nil {
			t.Fatal(err)
		}
		if p.Path != "/orders/{parameter}" || p.Sample == "" {
			t.Fatalf("profile key %s sample %q", p.Path, p.Sample)
		}
		profiles = append(profiles, &p)
	}

	ep := Endpoint{Host: "api.local", Method: "POST", Path: "/orders/{parameter}", Sensitive: []string{}}
	ApplyProfiles(&ep, profiles)
	props, _ := ep.RequestSchema["properties"].(map[string]any)
	for _, f := range []string{"email", "qty", "card"} {
		if _, ok := props[f]; !ok {
			t.Errorf("merged request schema lacks %s: %v", f, ep.RequestSchema)
		}
	}
	if req, _ := ep.RequestSchema["required"].([]any); slices.Contains(req, any("card")) {
		t.Errorf("card came from one plane only, yet is required: %v", req)
	}
	if _, ok := ep.ResponseSchemas["201"]; !ok {
		t.Errorf("no response schema: %v", ep.ResponseSchemas)
	}
	for _, c := range []string{"email", "card_number"} {
		if !slices.Contains(ep.Sensitive, c) {
			t.Errorf("sensitive %v lacks %s", ep.Sensitive, c)
		}
	}
	// Applying again (the next flush) gives the same row: profiles are
	// not consumed or double counted.
	again := Endpoint{Host: "api.local", Method: "POST", Path: "/orders/{parameter}", Sensitive: []string{}}
	ApplyProfiles(&again, profiles)
	a, _ := json.Marshal(ep)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Errorf("second application differs:\n%s\n%s", a, b)
	}
}
