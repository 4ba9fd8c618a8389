package config

import (
	"strings"
	"testing"
)

func TestAdminReadToken(t *testing.T) {
	tests := []struct {
		name, yaml, want, err string
	}{
		{"set", "listen: {http: 127.0.0.1:0}\nadmin: {addr: 127.0.0.1:0, token: a, read_token: r}\n", "r", ""},
		{"unset", "listen: {http: 127.0.0.1:0}\nadmin: {addr: 127.0.0.1:0, token: a}\n", "", ""},
		{"misspelt", "listen: {http: 127.0.0.1:0}\nadmin: {addr: 127.0.0.1:0, readtoken: r}\n", "", "readtoken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "test.yaml")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Admin.ReadToken != tc.want {
				t.Fatalf("read_token = %q, want %q", c.Admin.ReadToken, tc.want)
			}
		})
	}
}
