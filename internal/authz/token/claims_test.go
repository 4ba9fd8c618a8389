package token

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPrincipalFromClaims(t *testing.T) {
	tests := []struct {
		name      string
		claims    map[string]any
		clientIDs []string
		roles     string
		check     func(t *testing.T, sub, client string, scopes, roles, amr []string, acr string, authTime, exp time.Time)
		err       string
	}{
		{name: "every parsed claim", claims: map[string]any{"iss": "https://id", "sub": "user-17", "azp": "web", "scope": "cart orders",
			"roles": "admin ops", "amr": []any{"pwd", "mfa"}, "acr": "urn:mfa", "auth_time": 1_800_000_000.0, "exp": 1_800_003_600.0},
			check: func(t *testing.T, sub, client string, scopes, roles, amr []string, acr string, authTime, exp time.Time) {
				if sub != "user-17" || client != "web" || !slices.Equal(scopes, []string{"cart", "orders"}) || !slices.Equal(roles, []string{"admin", "ops"}) ||
					!slices.Equal(amr, []string{"pwd", "mfa"}) || acr != "urn:mfa" || !authTime.Equal(time.Unix(1_800_000_000, 0)) || !exp.Equal(time.Unix(1_800_003_600, 0)) {
					t.Errorf("sub %q client %q scopes %v roles %v amr %v acr %q auth_time %v exp %v", sub, client, scopes, roles, amr, acr, authTime, exp)
				}
			}},
		{name: "scp and client_id before azp", claims: map[string]any{"scp": []any{"a"}, "client_id": "cli", "azp": "web"},
			check: func(t *testing.T, _, client string, scopes, _, _ []string, _ string, _, _ time.Time) {
				if client != "cli" || !slices.Equal(scopes, []string{"a"}) {
					t.Errorf("client %q scopes %v", client, scopes)
				}
			}},
		{name: "configured claim names", claims: map[string]any{"cid": "x", "groups": []any{"g1"}, "roles": []any{"ignored"}},
			clientIDs: []string{"cid"}, roles: "groups",
			check: func(t *testing.T, _, client string, _, roles, _ []string, _ string, _, _ time.Time) {
				if client != "x" || !slices.Equal(roles, []string{"g1"}) {
					t.Errorf("client %q roles %v", client, roles)
				}
			}},
		{name: "no claims", claims: map[string]any{},
			check: func(t *testing.T, sub, client string, scopes, roles, amr []string, _ string, authTime, _ time.Time) {
				if sub != "" || client != "" || scopes != nil || roles != nil || amr != nil || !authTime.IsZero() {
					t.Errorf("sub %q client %q scopes %v roles %v amr %v", sub, client, scopes, roles, amr)
				}
			}},
		{name: "sub not a string", claims: map[string]any{"sub": 17.0}, err: "sub is not a string"},
		{name: "auth_time a string", claims: map[string]any{"auth_time": "yesterday"}, err: "auth_time is not a NumericDate"},
		{name: "exp a string", claims: map[string]any{"exp": "soon"}, err: "exp is not a NumericDate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PrincipalFromClaims(tt.claims, tt.clientIDs, tt.roles)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Source != "jwt" || p.Claims == nil {
				t.Errorf("principal %+v", p)
			}
			tt.check(t, p.Subject, p.ClientID, p.Scopes, p.Roles, p.AMR, p.ACR, p.AuthTime, p.Expiry)
		})
	}
}
