package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// errLine is the SPEC's "every error with its field path and line":
// file:line: path: message.
var errLine = regexp.MustCompile(`^(\S+\.yaml):(\d+): ([A-Za-z0-9_.\[\]]+): (.+)$`)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		file string
		code int
		// want are full "file:line: path: message" prefixes, one per
		// error, in the order printed.
		want []string
	}{
		{
			name: "good",
			file: "testdata/good.yaml",
			code: ExitOK,
		},
		{
			name: "unknown key",
			file: "testdata/unknown-key.yaml",
			code: ExitProblem,
			want: []string{`testdata/unknown-key.yaml:4: listen.htp2: unknown field`},
		},
		{
			name: "bad values",
			file: "testdata/bad-value.yaml",
			code: ExitProblem,
			want: []string{
				`testdata/bad-value.yaml:1: mode: "fast" is not one of enforce, monitor`,
				`testdata/bad-value.yaml:7: routes[0].timeout: "forever" is not a valid duration`,
			},
		},
		{
			name: "bad upstream URL",
			file: "testdata/bad-upstream.yaml",
			code: ExitProblem,
			want: []string{`testdata/bad-upstream.yaml:9: routes[1].upstream: "ftp//files.internal" is not an http://, https:// or h2c:// URL`},
		},
		{
			// Only found while building the stages (checkBuild), not by the
			// config parser.
			name: "unknown stage",
			file: "testdata/unknown-stage.yaml",
			code: ExitProblem,
			want: []string{`testdata/unknown-stage.yaml:9: routes[0].stages[1]: unknown stage "nosuchstage"`},
		},
		{
			// Compiled while building the authz stage: each error at its
			// field's line, with the position in the expression.
			name: "policies that do not compile",
			file: "testdata/bad-policy.yaml",
			code: ExitProblem,
			want: []string{
				`testdata/bad-policy.yaml:7: policies[0].deny_if: policy "own-user-record": 1:24: Syntax error: mismatched input '<EOF>'`,
				`testdata/bad-policy.yaml:10: policies[1].allow_if: policy "admin-only": 1:12: undeclared reference to 'tokn' (did you mean 'token'?)`,
			},
		},
		{
			name: "every error reported",
			file: "testdata/many-errors.yaml",
			code: ExitProblem,
			want: []string{
				`testdata/many-errors.yaml:4: listen.bogus: unknown field`,
				`testdata/many-errors.yaml:7: routes[0].upstream: "not a url" is not`,
				`testdata/many-errors.yaml:8: routes[1].name: duplicate route name "shop"`,
				`testdata/many-errors.yaml:10: discovery.sample_rate: 2 is not between 0 and 1`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, "validate", "--config", tt.file)
			if r.code != tt.code {
				t.Fatalf("vigil validate --config %s: want exit %d, got %v", tt.file, tt.code, r)
			}
			if tt.code == ExitOK {
				if want := tt.file + ": ok"; !strings.HasPrefix(r.stdout, want) {
					t.Errorf("stdout %q does not start with %q", r.stdout, want)
				}
				return
			}
			if strings.Contains(r.stdout, ": ok") {
				t.Errorf("an invalid config was reported ok:\n%s", r.stdout)
			}
			if !strings.Contains(r.stderr, tt.file+" is not valid") {
				t.Errorf("stderr does not say the file is not valid:\n%s", r.stderr)
			}
			var got []string
			for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
				if errLine.MatchString(l) {
					got = append(got, l)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("want %d errors as file:line: path: message, got %d:\n%s", len(tt.want), len(got), r)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("error %d:\n got %s\nwant %s...", i, got[i], w)
				}
			}
		})
	}
}

func TestValidateUnreadable(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, content string
		want                []string
	}{
		{name: "missing file", file: filepath.Join(dir, "nope.yaml"), want: []string{"nope.yaml", "no such file"}},
		{name: "empty file", file: filepath.Join(dir, "empty.yaml"), content: "", want: []string{"empty.yaml"}},
		{name: "not YAML", file: "testdata/syntax.yaml", want: []string{"testdata/syntax.yaml:"}},
		{name: "a list, not a mapping", file: filepath.Join(dir, "list.yaml"), content: "- a\n- b\n", want: []string{"list.yaml:1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content != "" || strings.HasSuffix(tt.file, "empty.yaml") {
				if err := os.WriteFile(tt.file, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := run(t, nil, "validate", "-c", tt.file)
			if r.code != ExitProblem {
				t.Fatalf("want exit %d, got %v", ExitProblem, r)
			}
			out := r.stdout + r.stderr
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}
