package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/server"
)

const enforceSpec = `openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  /users/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
    get:
      responses:
        "200":
          description: a user
          content:
            application/json:
              schema:
                type: object
                properties:
                  id: {type: string}
                  name: {type: string}
    patch:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                name: {type: string}
                email: {type: string}
      responses:
        "200": {description: ok}
  /cart/item/add/{user}:
    post:
      parameters:
        - {name: user, in: path, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [sku, quantity]
              properties:
                sku: {type: string}
                quantity: {type: integer, minimum: 1}
      responses:
        "200": {description: ok}
`

// TestOpenAPIEnforcement: requests that break the spec are answered 400 in
// enforce mode (wrong type, missing field, mass assignment) and pass with
// would_block findings in monitor mode; undocumented operations are
// allowed or blocked as configured; undeclared response fields are
// reported, and stripped with responses: enforce.
func TestOpenAPIEnforcement(t *testing.T) {
	var upstreamHits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/users/") && r.Method == "GET" {
			io.WriteString(w, `{"id":"jane","name":"Jane","password_hash":"$2b$10$abc","ssn":"078-05-1120"}`)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	specDir := t.TempDir()
	spec := filepath.Join(specDir, "shop.yaml")
	if err := os.WriteFile(spec, []byte(enforceSpec), 0o600); err != nil {
		t.Fatal(err)
	}

	type call struct {
		name, method, path, body string
		status                   int    // enforce
		kind                     string // finding kind ("" none)
		variable                 string
	}
	calls := []call{
		{"valid", "POST", "/cart/item/add/jane", `{"sku":"S1","quantity":2}`, 200, "", ""},
		{"wrong type", "POST", "/cart/item/add/jane", `{"sku":"S1","quantity":"lots"}`, 400, "schema_violation", "body.quantity"},
		{"missing required", "POST", "/cart/item/add/jane", `{"sku":"S1"}`, 400, "schema_violation", ""},
		{"mass assignment", "PATCH", "/users/jane", `{"name":"Jane","role":"admin"}`, 400, "mass_assignment", "body.role"},
	}
	for _, mode := range []string{"enforce", "monitor"} {
		t.Run(mode, func(t *testing.T) {
			h := startGateway(t, baseConfig(up.URL, "protect:\n  openapi: {specs: ["+spec+"], requests: "+mode+", responses: "+mode+"}\n"), server.Options{})
			for _, c := range calls {
				before := upstreamHits.Load()
				req, _ := http.NewRequest(c.method, h.URL+c.path, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := c.status
				if mode == "monitor" {
					want = 200
				}
				if resp.StatusCode != want {
					t.Fatalf("%s: status %d, want %d: %s", c.name, resp.StatusCode, want, b)
				}
				if reached := upstreamHits.Load() > before; reached != (want == 200) {
					t.Fatalf("%s: upstream reached = %v", c.name, reached)
				}
				if c.status == 400 && mode == "enforce" && !strings.Contains(string(b), "blocked") {
					t.Errorf("%s: error body %s", c.name, b)
				}
				ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
				f, ok := openapiFinding(ev, c.kind)
				if c.kind == "" {
					if ok || len(ev.Findings) > 0 {
						t.Errorf("%s: findings %+v", c.name, ev.Findings)
					}
					continue
				}
				if !ok || f.Layer != "openapi" || !strings.HasPrefix(f.RuleID, "openapi:") || f.Action != "block" || f.WouldBlock != (mode == "monitor") {
					t.Errorf("%s: finding %+v (all %+v)", c.name, f, ev.Findings)
				}
				if c.variable != "" && f.Variable != c.variable {
					t.Errorf("%s: variable %q, want %q", c.name, f.Variable, c.variable)
				}
				if strings.Contains(f.Message, "admin") || strings.Contains(f.Message, "lots") {
					t.Errorf("%s: the finding copies the value: %q", c.name, f.Message)
				}
			}

			// The response of GET /users/{id} leaks two undeclared fields.
			resp, err := http.Get(h.URL + "/users/jane")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("response %q: %v", b, err)
			}
			_, leaked := doc["password_hash"]
			if leaked != (mode == "monitor") || doc["name"] != "Jane" {
				t.Fatalf("response body %s", b)
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			n := 0
			for _, f := range ev.Findings {
				if f.Kind == "excessive_data_exposure" && f.Action == "strip" && f.WouldBlock == (mode == "monitor") &&
					(f.Variable == "$.password_hash" || f.Variable == "$.ssn") {
					n++
				}
			}
			if n != 2 {
				t.Fatalf("exposure findings %+v", ev.Findings)
			}
		})
	}

	t.Run("undocumented", func(t *testing.T) {
		for _, tc := range []struct {
			setting string
			path    string
			method  string
			status  int
		}{
			{"allow", "/admin/export", "GET", 200},
			{"block", "/admin/export", "GET", 404},
			{"block", "/users/jane", "DELETE", 405},
		} {
			h := startGateway(t, baseConfig(up.URL, "protect:\n  openapi: {specs: ["+spec+"], undocumented: "+tc.setting+"}\n"), server.Options{})
			req, _ := http.NewRequest(tc.method, h.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s with undocumented: %s: status %d, want %d", tc.method, tc.path, tc.setting, resp.StatusCode, tc.status)
			}
			ev := h.eventFor(resp.Header.Get("Vigil-Txn"))
			f, ok := openapiFinding(ev, "undocumented_operation")
			wantAction := "log"
			if tc.setting == "block" {
				wantAction = "block"
			}
			if !ok || f.Action != wantAction || f.RuleID != "openapi:undocumented" {
				t.Fatalf("findings %+v", ev.Findings)
			}
		}
	})

	t.Run("bad spec is a config error", func(t *testing.T) {
		bad := filepath.Join(specDir, "bad.yaml")
		os.WriteFile(bad, []byte("openapi: 3.0.3\npaths: {/x: {get: {responses: 12}}}\n"), 0o600)
		file := filepath.Join(specDir, "vigil.yaml")
		os.WriteFile(file, []byte(strings.ReplaceAll(baseConfig(up.URL, "protect:\n  openapi: {specs: ["+bad+"]}\n"), "{{DIR}}", specDir)), 0o600)
		cfg, err := config.Load(file)
		if err == nil {
			_, err = server.New(cfg, server.Options{Logger: quietLog()})
		}
		if err == nil || !strings.Contains(err.Error(), "protect.openapi.specs") {
			t.Fatalf("err = %v", err)
		}
	})
}

func openapiFinding(ev event.Event, kind string) (event.Finding, bool) {
	for _, f := range ev.Findings {
		if f.Stage == "openapi" && (kind == "" || f.Kind == kind) {
			return f, true
		}
	}
	return event.Finding{}, false
}
