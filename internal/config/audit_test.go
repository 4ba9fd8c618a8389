package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAuditConfig(t *testing.T) {
	const vkey = "vigil.audit/test+86ab9cfc+ATE4OJqkHefRrSQAJDNXJ5RVghWTlHrxPooAogwrrm7Q"
	tests := []struct {
		name     string
		yaml     string
		wantPath string // the error's field path; "" for none
		check    func(t *testing.T, c *Config)
	}{
		{"defaults", "audit: {}\n", "", func(t *testing.T, c *Config) {
			if c.Audit.Disabled || c.Audit.Origin != DefaultAuditOrigin || c.Audit.CheckpointInterval != 10*time.Second ||
				c.AuditKeyPath() != "vigil-data/audit.key" {
				t.Errorf("defaults: %+v, key %s", c.Audit, c.AuditKeyPath())
			}
		}},
		{"all keys", "data_dir: /d\naudit:\n  origin: vigil.audit/shop\n  key: /k/a.key\n  checkpoint_interval: 1s\n  trusted_keys: [" + vkey + "]\n  require_pinned: true\n", "",
			func(t *testing.T, c *Config) {
				if c.Audit.Origin != "vigil.audit/shop" || c.AuditKeyPath() != "/k/a.key" || c.Audit.CheckpointInterval != time.Second ||
					!c.Audit.RequirePinned {
					t.Errorf("%+v", c.Audit)
				}
			}},
		{"disabled", "audit: {disabled: true}\n", "", func(t *testing.T, c *Config) {
			if !c.Audit.Disabled {
				t.Error("not disabled")
			}
		}},
		{"origin with a space", "audit: {origin: \"a b\"}\n", "audit.origin", nil},
		{"origin with a plus", "audit: {origin: a+b}\n", "audit.origin", nil},
		{"interval too short", "audit: {checkpoint_interval: 1ms}\n", "audit.checkpoint_interval", nil},
		{"bad trusted key", "audit: {trusted_keys: [nope]}\n", "audit.trusted_keys[0]", nil},
		{"unknown key", "audit: {signing: x}\n", "audit.signing", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("listen: {http: 127.0.0.1:0}\n"+tc.yaml), "t.yaml")
			if tc.wantPath == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, c)
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v, want field errors", err)
			}
			found := false
			for _, e := range errs {
				found = found || e.Path == tc.wantPath || strings.HasPrefix(e.Path, tc.wantPath)
			}
			if !found {
				t.Errorf("errors %v do not name %s", err, tc.wantPath)
			}
		})
	}
}

func TestHopSigning(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name   string
		a      Audit
		remote bool
		want   bool
	}{
		{"unset, remote control plane", Audit{}, true, true},
		{"unset, in-process (vigil up)", Audit{}, false, false},
		{"on, in-process", Audit{SignHops: &on}, false, true},
		{"off, remote", Audit{SignHops: &off}, true, false},
		{"disabled wins", Audit{Disabled: true, SignHops: &on}, true, false},
	} {
		if got := tc.a.HopSigning(tc.remote); got != tc.want {
			t.Errorf("%s: HopSigning(%v) = %v, want %v", tc.name, tc.remote, got, tc.want)
		}
	}
}
