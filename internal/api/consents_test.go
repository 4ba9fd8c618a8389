package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/event"
)

func consentServer(t *testing.T) string {
	t.Helper()
	st := newStore(t)
	plane, err := control.New(control.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, &Server{Store: st, Consents: plane, Token: testToken})
}

func postGrant(t *testing.T, base, body string) reply {
	t.Helper()
	return call(t, http.MethodPost, base+"/api/v1/consents", "Bearer "+testToken, strings.NewReader(body))
}

// TestGrantConsentBadInput: each mistake is refused with its status and a
// message naming the field, and nothing is stored.
func TestGrantConsentBadInput(t *testing.T) {
	base := consentServer(t)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name, body string
		status     int
		code, want string
	}{
		{"not JSON", `subject=u1`, 400, "bad_body", "invalid JSON"},
		{"empty body", ``, 400, "bad_body", "one JSON object"},
		{"two objects", `{"subject":"u1","grantee":"app","scope":"s"} {}`, 400, "bad_body", "one JSON object"},
		{"unknown field", `{"subject":"u1","grantee":"app","scope":"s","scopes":["x"]}`, 400, "bad_body", "scopes: unknown field"},
		{"wrong type", `{"subject":7,"grantee":"app","scope":"s"}`, 400, "bad_body", "subject: must be a string"},
		{"no subject", `{"grantee":"app","scope":"orders:read"}`, 422, "invalid_consent", "subject"},
		{"no grantee", `{"subject":"u1","scope":"orders:read"}`, 422, "invalid_consent", "grantee"},
		{"no scope", `{"subject":"u1","grantee":"app"}`, 422, "invalid_consent", "scope"},
		{"bad expiry", `{"subject":"u1","grantee":"app","scope":"s","expires_at":"tomorrow"}`, 422, "invalid_consent", "expires_at"},
		{"expired", `{"subject":"u1","grantee":"app","scope":"s","expires_at":"` + past + `"}`, 422, "invalid_consent", "expires_at: in the past"},
		{"both expiries", `{"subject":"u1","grantee":"app","scope":"s","expires_at":"2030-01-01T00:00:00Z","expires_in":"1h"}`, 422, "invalid_consent", "at most one"},
		{"negative duration", `{"subject":"u1","grantee":"app","scope":"s","expires_in":"-1h"}`, 422, "invalid_consent", "expires_in"},
		{"bad resource", `{"subject":"u1","grantee":"app","scope":"s","resource":"/a/[/b"}`, 422, "invalid_consent", "resource"},
		{"too large", `{"subject":"` + strings.Repeat("a", 20<<10) + `"}`, 413, "too_large", "limited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := postGrant(t, base, tc.body)
			if r.status != tc.status || r.errCode(t) != tc.code || !strings.Contains(r.errMessage(t), tc.want) {
				t.Fatalf("got %d %s, want %d %s containing %q", r.status, r.body, tc.status, tc.code, tc.want)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/consents", strings.NewReader(`subject: u1`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a YAML body: %d, want 415", resp.StatusCode)
	}
	if p := decodePage[consent.Grant](t, get(t, base+"/api/v1/consents")); len(p.Items) != 0 {
		t.Fatalf("refused grants were stored: %+v", p.Items)
	}
}

func TestConsentLifecycle(t *testing.T) {
	base := consentServer(t)
	grant := func(body string) consent.Grant {
		t.Helper()
		r := postGrant(t, base, body)
		if r.status != http.StatusCreated {
			t.Fatalf("grant: %d %s", r.status, r.body)
		}
		var g consent.Grant
		if err := json.Unmarshal(r.body, &g); err != nil {
			t.Fatal(err)
		}
		if !consent.ValidID(g.ID) || r.header.Get("Location") != "/api/v1/consents/"+g.ID || g.CreatedAt.IsZero() {
			t.Fatalf("grant reply: id %q Location %q created %v", g.ID, r.header.Get("Location"), g.CreatedAt)
		}
		return g
	}
	a := grant(`{"subject":"u1","grantee":"budget-app","scope":"orders:read","resource":"/orders/**","expires_in":"720h"}`)
	b := grant(`{"subject":"u1","grantee":"tax-app","scope":"*"}`)
	c := grant(`{"subject":"u2","grantee":"budget-app","scope":"orders:read"}`)
	if a.ExpiresAt == nil || time.Until(*a.ExpiresAt) < 719*time.Hour || b.ExpiresAt != nil {
		t.Fatalf("expiries: %v %v", a.ExpiresAt, b.ExpiresAt)
	}

	r := get(t, base+"/api/v1/consents/"+a.ID)
	var got consent.Grant
	if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil || got.Resource != "/orders/**" || got.Grantee != "budget-app" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/api/v1/consents/cs_nope", "/api/v1/consents/..%2f..%2fetc"} {
		if r := get(t, base+path); r.status != http.StatusNotFound || r.errCode(t) != "not_found" {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}

	ids := func(query string) []string {
		t.Helper()
		var out []string
		for _, g := range decodePage[consent.Grant](t, get(t, base+"/api/v1/consents"+query)).Items {
			out = append(out, g.ID)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{a.ID, b.ID, c.ID}},
		{"?subject=u1", []string{a.ID, b.ID}},
		{"?grantee=budget-app", []string{a.ID, c.ID}},
		{"?subject=u2&scope=orders:read", []string{c.ID}},
		{"?scope=nothing", nil},
	} {
		if got := ids(tc.query); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("list %q: %v, want %v", tc.query, got, tc.want)
		}
	}
	p := decodePage[consent.Grant](t, get(t, base+"/api/v1/consents?limit=2"))
	if len(p.Items) != 2 || p.NextCursor == "" {
		t.Fatalf("page 1: %d items, cursor %q", len(p.Items), p.NextCursor)
	}
	if p2 := decodePage[consent.Grant](t, get(t, base+"/api/v1/consents?limit=2&cursor="+p.NextCursor)); len(p2.Items) != 1 || p2.Items[0].ID != c.ID {
		t.Fatalf("page 2: %+v", p2.Items)
	}
	for _, q := range []string{"?active=maybe", "?limit=0", "?cursor=garbage"} {
		if r := get(t, base+"/api/v1/consents"+q); r.status != http.StatusBadRequest {
			t.Errorf("list %s: %d %s, want 400", q, r.status, r.body)
		}
	}

	del := func(id string) reply {
		return call(t, http.MethodDelete, base+"/api/v1/consents/"+id, "Bearer "+testToken, nil)
	}
	r = del(b.ID)
	var revoked consent.Grant
	if r.status != http.StatusOK || json.Unmarshal(r.body, &revoked) != nil || revoked.RevokedAt == nil {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	time.Sleep(2 * time.Millisecond)
	var again consent.Grant
	if r := del(b.ID); r.status != http.StatusOK || json.Unmarshal(r.body, &again) != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Fatalf("second revoke: %d %s; the first time must stay %v", r.status, r.body, revoked.RevokedAt)
	}
	if r := del("cs_nope"); r.status != http.StatusNotFound {
		t.Fatalf("revoke unknown: %d %s", r.status, r.body)
	}
	if got := ids("?active=true"); strings.Join(got, ",") != a.ID+","+c.ID {
		t.Errorf("active grants: %v, want %v", got, []string{a.ID, c.ID})
	}
	if got := ids("?subject=u1"); len(got) != 2 {
		t.Errorf("a revoked grant is still listed without active=true: %v", got)
	}

	// Every grant and revocation is an event; the repeated revoke is not.
	evs := decodePage[event.Event](t, get(t, base+"/api/v1/events?type=consent&limit=100")).Items
	count := map[string]int{}
	for _, ev := range evs {
		if ev.Consent == nil || ev.Placement != "control" {
			t.Fatalf("consent event without its record: %+v", ev)
		}
		count[ev.Consent.Action+" "+ev.Consent.ID]++
		if ev.Consent.ID == a.ID && (ev.Consent.Resource != "/orders/**" || ev.Consent.ExpiresAt == "") {
			t.Errorf("grant event lacks resource or expiry: %+v", ev.Consent)
		}
	}
	want := map[string]int{"grant " + a.ID: 1, "grant " + b.ID: 1, "grant " + c.ID: 1, "revoke " + b.ID: 1}
	if len(count) != len(want) {
		t.Fatalf("consent events %v, want %v", count, want)
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("events %q: %d, want %d", k, count[k], n)
		}
	}
}

// TestConsentsDisabled: a node without a consent service says so.
func TestConsentsDisabled(t *testing.T) {
	base := serve(t, &Server{Store: newStore(t), Token: testToken})
	if r := get(t, base+"/api/v1/consents"); r.status != http.StatusNotImplemented || r.errCode(t) != "no_consents" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
