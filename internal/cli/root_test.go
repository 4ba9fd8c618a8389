package cli

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// result is what one in-process run of the CLI produced.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI in-process, the way the vigil binary does.
func run(t testing.TB, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := Main(args, stdin, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	const max = 4000
	if len(s) > max {
		return s[:max] + "...(clipped)"
	}
	return s
}

func TestVersion(t *testing.T) {
	r := run(t, nil, "version")
	if r.code != ExitOK {
		t.Fatalf("vigil version: %v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("vigil version printed %d lines, want 3 (version, commit, Go):\n%s", len(lines), r.stdout)
	}
	if !strings.HasPrefix(lines[0], "vigil ") || strings.TrimSpace(strings.TrimPrefix(lines[0], "vigil ")) == "" {
		t.Errorf("first line %q does not name the version", lines[0])
	}
	if !strings.HasPrefix(lines[1], "commit ") || strings.TrimSpace(strings.TrimPrefix(lines[1], "commit ")) == "" {
		t.Errorf("second line %q does not name the commit", lines[1])
	}
	if !strings.Contains(lines[2], runtime.Version()) {
		t.Errorf("third line %q does not name the Go version %s", lines[2], runtime.Version())
	}
	if r.stderr != "" {
		t.Errorf("vigil version wrote to stderr: %q", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`, "vigil --help"}},
		{"unknown flag on root", []string{"--no-such-flag"}, []string{"unknown flag: --no-such-flag"}},
		{"unknown flag on command", []string{"version", "--nope"}, []string{"unknown flag: --nope", "Usage:"}},
		{"unknown shorthand", []string{"discover", "-Z", "x.log"}, []string{"unknown shorthand flag: 'Z'"}},
		{"extra argument", []string{"version", "extra"}, []string{"unknown command \"extra\""}},
		{"bad flag value", []string{"demo", "--shoppers", "many"}, []string{"invalid argument \"many\""}},
		{"validate without --config", []string{"validate"}, []string{"--config FILE is required"}},
		{"validate with empty --config", []string{"validate", "--config", " "}, []string{"--config FILE is required"}},
		{"gateway without --config", []string{"gateway"}, []string{"--config FILE is required"}},
		{"sidecar without --config", []string{"sidecar"}, []string{"--config FILE is required"}},
		{"up without --config", []string{"up"}, []string{"--config FILE is required"}},
		{"control without --config", []string{"control"}, []string{"--config FILE is required"}},
		{"discover without files", []string{"discover"}, []string{"requires at least 1 arg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, tt.args...)
			if r.code != ExitUsage {
				t.Fatalf("vigil %s: want exit %d (usage), got %v", strings.Join(tt.args, " "), ExitUsage, r)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// allCommands lists the path (as typed) of every command of the tree,
// the root included, so that commands added later are covered too.
func allCommands() [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(newRoot(&env{stdout: io.Discard, stderr: io.Discard}), nil)
	return out
}

func TestHelpOnEveryCommand(t *testing.T) {
	cmds := allCommands()
	// The SPEC's commands that exist today must all be in the tree.
	have := map[string]bool{}
	for _, p := range cmds {
		have[strings.Join(p, " ")] = true
	}
	for _, want := range []string{"version", "validate", "gateway", "sidecar", "demo", "discover", "up", "control"} {
		if !have[want] {
			t.Errorf("command %q is missing from the tree", want)
		}
	}
	for _, path := range cmds {
		for _, flag := range []string{"-h", "--help"} {
			args := append(append([]string{}, path...), flag)
			name := strings.Join(args, " ")
			t.Run(name, func(t *testing.T) {
				r := run(t, nil, args...)
				if r.code != ExitOK {
					t.Fatalf("vigil %s: %v", name, r)
				}
				if !strings.Contains(r.stdout, "Usage:") {
					t.Errorf("vigil %s printed no usage:\n%s", name, r.stdout)
				}
				usage := "vigil"
				if len(path) > 0 {
					usage = "vigil " + strings.Join(path, " ")
				}
				if !strings.Contains(r.stdout, usage) {
					t.Errorf("vigil %s: usage does not show %q:\n%s", name, usage, r.stdout)
				}
				if !strings.Contains(r.stdout, "-h, --help") {
					t.Errorf("vigil %s: usage does not list -h:\n%s", name, r.stdout)
				}
			})
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	r := run(t, nil, "--help")
	if r.code != ExitOK {
		t.Fatalf("vigil --help: %v", r)
	}
	for _, c := range []string{"discover", "validate", "version", "gateway", "demo"} {
		if !strings.Contains(r.stdout, "  "+c+" ") {
			t.Errorf("vigil --help does not list %q:\n%s", c, r.stdout)
		}
	}
}

// Flags that take a config must document it as --config FILE in the usage
// line, so that -h tells the user what is required.
func TestConfigCommandsShowConfigInUsage(t *testing.T) {
	for _, path := range allCommands() {
		if len(path) == 0 {
			continue
		}
		r := run(t, nil, append(append([]string{}, path...), "-h")...)
		if !strings.Contains(r.stdout, "--config string") {
			continue
		}
		if !strings.Contains(r.stdout, "--config FILE") {
			t.Errorf("vigil %s takes --config but its usage line does not say --config FILE:\n%s", strings.Join(path, " "), r.stdout)
		}
	}
}
