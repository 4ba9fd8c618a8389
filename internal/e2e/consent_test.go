package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

// consentGateway is a data plane reporting to natsURL whose policies ask
// consent(): a third-party app (the token's client id) may read a
// customer's orders only with the customer's grant.
func consentGateway(t *testing.T, is *issuer, upstream, natsURL string) (url, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwks, is.jwks(), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`mode: enforce
listen: {http: 127.0.0.1:0}
data_dir: %s
bus: %s
discovery: {enabled: false}
identity:
  jwt:
    - issuer: https://id.shop.local
      jwks_file: %s
      audiences: [shop]
      algorithms: [ES256]
routes:
  - name: shop
    upstream: %s
    identity: required
policies:
  - name: orders-owner-or-consent
    match: {endpoint: "GET /users/{user}/orders"}
    allow_if: 'token.sub == path.user || consent(path.user, "orders:read")'
  - name: profile-owner-or-consent
    match: {endpoint: "GET /users/{user}/profile"}
    allow_if: 'token.sub == path.user || consent(path.user, "profile:read")'
  - name: invoices-owner-or-consent
    match: {endpoint: "GET /users/{user}/invoices"}
    allow_if: 'token.sub == path.user || consent(path.user, "orders:read")'
`, dir, natsURL, jwks, upstream)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dp, err := server.StartDataPlane(ctx, cfg, server.Options{Placement: "gateway", Logger: quietLog()}, quietLog(), server.DataPlaneOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = dp.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + dp.G.Addr("http"), dir
}

func statusOf(t *testing.T, url, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls until url answers want and returns how long it took.
func waitStatus(t *testing.T, url, tok string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := statusOf(t, url, tok)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: still %d after %v, want %d", url, got, within, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestConsentAcrossGateways: a grant made through the control plane's API
// lets the grantee in at every gateway, only for the subject, scope and
// resource granted; its revocation shuts it out at a second gateway within
// a second; both are events.
func TestConsentAcrossGateways(t *testing.T) {
	ns := startNATS(t, 0, t.TempDir())
	t.Cleanup(ns.Shutdown)
	cp := startReplica(t, ns.ClientURL(), "sqlite")
	const token = "consent-admin-token"
	mux := http.NewServeMux()
	(&api.Server{Store: cp.store, Consents: cp.plane, Token: token, Log: quietLog()}).Register(mux)
	ctl := httptest.NewServer(mux)
	t.Cleanup(ctl.Close)
	apiCall := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, ctl.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	is := newIssuer(t)
	up := newOWASPUpstream(t, nil)
	gwA, dirA := consentGateway(t, is, up.URL, ns.ClientURL())
	gwB, _ := consentGateway(t, is, up.URL, ns.ClientURL())
	owner := is.token(t, "ES256", is.claims("u-41", nil), nil)
	app := is.token(t, "ES256", is.claims("svc-budget", map[string]any{"azp": "budget-app"}), nil)
	other := is.token(t, "ES256", is.claims("svc-ads", map[string]any{"azp": "ads-app"}), nil)

	// Before any grant: the owner reads her orders, the app does not.
	for _, gw := range []string{gwA, gwB} {
		if s := statusOf(t, gw+"/users/u-41/orders", owner); s != 200 {
			t.Fatalf("owner: %d", s)
		}
		if s := statusOf(t, gw+"/users/u-41/orders", app); s != 403 {
			t.Fatalf("app without consent: %d, want 403", s)
		}
	}

	code, body := apiCall("POST", "/api/v1/consents",
		`{"subject":"u-41","grantee":"budget-app","scope":"orders:read","resource":"/users/u-41/orders/**","expires_in":"1h"}`)
	if code != http.StatusCreated {
		t.Fatalf("grant: %d %s", code, body)
	}
	var g consent.Grant
	if err := json.Unmarshal(body, &g); err != nil {
		t.Fatal(err)
	}
	granted := time.Now()
	for _, gw := range []string{gwA, gwB} {
		waitStatus(t, gw+"/users/u-41/orders", app, 200, time.Second)
	}
	t.Logf("grant honoured by both gateways %v after the API answered", time.Since(granted))

	// Only what was granted: not another scope, subject or grantee.
	for _, tc := range []struct {
		name, path, tok string
		want            int
	}{
		{"granted", "/users/u-41/orders", app, 200},
		{"same scope, outside the resource", "/users/u-41/invoices", app, 403},
		{"another scope", "/users/u-41/profile", app, 403},
		{"another subject", "/users/u-42/orders", app, 403},
		{"another grantee", "/users/u-41/orders", other, 403},
	} {
		for _, gw := range []string{gwA, gwB} {
			if s := statusOf(t, gw+tc.path, tc.tok); s != tc.want {
				t.Errorf("%s at %s: %d, want %d", tc.name, gw, s, tc.want)
			}
		}
	}

	// Each data plane keeps what it knows in data_dir, for a start while
	// the bus is down.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(dirA, "consent.json"))
		if strings.Contains(string(b), g.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("data_dir/consent.json lacks the grant: %q", b)
		}
	}

	// Revoked on the control plane: the second gateway refuses within 1 s.
	code, body = apiCall("DELETE", "/api/v1/consents/"+g.ID, "")
	if code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	took := waitStatus(t, gwB+"/users/u-41/orders", app, 403, time.Second)
	t.Logf("revocation enforced at the second gateway %v after the API answered", took)
	waitStatus(t, gwA+"/users/u-41/orders", app, 403, time.Second)
	if s := statusOf(t, gwB+"/users/u-41/orders", owner); s != 200 {
		t.Fatalf("the owner lost access: %d", s)
	}

	// Both are events.
	code, body = apiCall("GET", "/api/v1/events?type=consent", "")
	if code != 200 {
		t.Fatalf("events: %d %s", code, body)
	}
	var evs struct{ Items []event.Event }
	if err := json.Unmarshal(body, &evs); err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, ev := range evs.Items {
		if ev.Consent != nil && ev.Consent.ID == g.ID {
			actions[ev.Consent.Action] = true
		}
	}
	if !actions["grant"] || !actions["revoke"] || len(evs.Items) != 2 {
		t.Fatalf("consent events %+v, want a grant and a revoke of %s", evs.Items, g.ID)
	}
}
