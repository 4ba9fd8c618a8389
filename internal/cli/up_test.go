package cli

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/discovery"
)

// TestControlEngineUsesSpecs: a scale-out control plane's inventory gets
// its spec status from discovery.specs, as a gateway's does.
func TestControlEngineUsesSpecs(t *testing.T) {
	eng, err := controlEngine(t.Context(), config.Discovery{Specs: []string{"testdata/api-spec.yaml"}, Webhook: "http://127.0.0.1:1/hook"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, o := range []discovery.Observation{
		{Time: now, Host: "api.local", Method: "GET", Path: "/users/42", Status: 200},
		{Time: now, Host: "api.local", Method: "GET", Path: "/orders/7", Status: 200},
		{Time: now, Host: "api.local", Method: "GET", Path: "/admin/export", Status: 200},
	} {
		eng.Observe(&o)
	}
	got := map[string]string{}
	for _, ep := range eng.Endpoints() {
		got[ep.Method+" "+ep.Path] = ep.Status
	}
	tests := []struct{ endpoint, status string }{
		{"GET /users/{id}", "documented"},
		{"GET /orders/{id}", "zombie"},
		{"GET /admin/export", "shadow"},
	}
	for _, tc := range tests {
		if got[tc.endpoint] != tc.status {
			t.Errorf("%s: status %q, want %q (all: %v)", tc.endpoint, got[tc.endpoint], tc.status, got)
		}
	}
}

func TestControlEngineBadSpec(t *testing.T) {
	_, err := controlEngine(t.Context(), config.Discovery{Specs: []string{"testdata/broken-spec.yaml"}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("a broken spec was accepted")
	}
}
