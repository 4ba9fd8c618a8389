package cli

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/pki"
)

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// mustRun runs the CLI and fails unless it exits 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, nil, args...)
	if r.code != ExitOK {
		t.Fatalf("vigil %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// TestCA: init, issue, rotate, rotate --root and show, as an operator
// runs them, checking the files each one leaves.
func TestCA(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "ca")
	r := mustRun(t, "ca", "init", "--dir", dir, "--trust-domain", "shop.example.com")
	if !strings.HasPrefix(r.stdout, "created the CA of trust domain shop.example.com (ecdsa-p256) in "+dir+"\n") || !strings.Contains(r.stdout, filepath.Join(dir, "bundle.pem")) {
		t.Errorf("init printed:\n%s", r.stdout)
	}
	if fileMode(t, dir) != 0o700 {
		t.Errorf("CA dir mode %04o, want 0700", fileMode(t, dir))
	}
	for f, want := range map[string]fs.FileMode{"root.crt": 0o644, "root.key": 0o600, "intermediate.crt": 0o644, "intermediate.key": 0o600, "bundle.pem": 0o644, "ca.json": 0o644} {
		if m := fileMode(t, filepath.Join(dir, f)); m != want {
			t.Errorf("%s: mode %04o, want %04o", f, m, want)
		}
	}

	// Issue.
	prefix := filepath.Join(base, "web")
	const id = "spiffe://shop.example.com/ns/shop/sa/web"
	before := time.Now()
	r = mustRun(t, "ca", "issue", "--dir", dir, "--spiffe-id", id, "--out", prefix, "--ttl", "2h")
	if !strings.HasPrefix(r.stdout, "issued "+id+" until ") || !strings.Contains(r.stdout, prefix+".crt") || !strings.Contains(r.stdout, prefix+".key") {
		t.Errorf("issue printed:\n%s", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("issue wrote to stderr: %s", r.stderr)
	}
	if m := fileMode(t, prefix+".key"); m != 0o600 {
		t.Errorf("PREFIX.key mode %04o, want 0600", m)
	}
	key, _ := os.ReadFile(prefix + ".key")
	if !strings.HasPrefix(string(key), "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("PREFIX.key is not PKCS#8 PEM")
	}
	chain, err := pki.LoadBundle(prefix + ".crt")
	if err != nil || len(chain) != 2 {
		t.Fatalf("PREFIX.crt: %d certificates, %v; want leaf and intermediate", len(chain), err)
	}
	inter, _ := pki.LoadBundle(filepath.Join(dir, "intermediate.crt"))
	if !chain[1].Equal(inter[0]) || chain[0].IsCA {
		t.Errorf("PREFIX.crt is not leaf then intermediate")
	}
	if d := chain[0].NotAfter.Sub(before.Add(2 * time.Hour)); d < -10*time.Second || d > 10*time.Second {
		t.Errorf("--ttl 2h: NotAfter %s", chain[0].NotAfter)
	}
	bundle, _ := pki.LoadBundle(filepath.Join(dir, "bundle.pem"))
	if got, err := pki.Verify(bundle, chain); err != nil || got.String() != id {
		t.Fatalf("the SVID does not verify against bundle.pem: %v %v", got, err)
	}

	// Rotate the intermediate: one root still.
	r = mustRun(t, "ca", "rotate", "--dir", dir)
	if !strings.HasPrefix(r.stdout, "rotated the intermediate of trust domain shop.example.com\n") || !strings.Contains(r.stdout, "1 root") {
		t.Errorf("rotate printed:\n%s", r.stdout)
	}
	prefix2 := filepath.Join(base, "api")
	mustRun(t, "ca", "issue", "--dir", dir, "--spiffe-id", "spiffe://shop.example.com/api", "--out", prefix2)

	// Rotate the root: two roots, and everything issued verifies.
	r = mustRun(t, "ca", "rotate", "--dir", dir, "--root")
	if !strings.HasPrefix(r.stdout, "rotated the root and the intermediate of trust domain shop.example.com\n") || !strings.Contains(r.stdout, "2 roots") || !strings.Contains(r.stdout, "previous root") {
		t.Errorf("rotate --root printed:\n%s", r.stdout)
	}
	prefix3 := filepath.Join(base, "db")
	mustRun(t, "ca", "issue", "--dir", dir, "--spiffe-id", "spiffe://shop.example.com/db", "--out", prefix3)
	bundle, _ = pki.LoadBundle(filepath.Join(dir, "bundle.pem"))
	if len(bundle) != 2 {
		t.Fatalf("bundle.pem holds %d roots after rotate --root, want 2", len(bundle))
	}
	for _, p := range []string{prefix, prefix2, prefix3} {
		c, _ := pki.LoadBundle(p + ".crt")
		if _, err := pki.Verify(bundle, c); err != nil {
			t.Errorf("%s.crt against the new bundle: %v", p, err)
		}
	}

	// Show, both formats.
	ca, err := pki.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "ca", "show", "--dir", dir)
	for _, w := range []string{
		"trust domain  shop.example.com", "profile       ecdsa-p256",
		"root          " + ca.Root.Subject.String(), "intermediate  " + ca.Intermediate.Subject.String(),
		pki.Serial(ca.Root), pki.Serial(ca.Intermediate), pki.Fingerprint(ca.Root), pki.Fingerprint(ca.Intermediate),
		"bundle        2 roots", "previous root, kept until ", pki.Fingerprint(bundle[1]),
		"valid       " + ca.Root.NotBefore.UTC().Format(time.RFC3339) + " to " + ca.Root.NotAfter.UTC().Format(time.RFC3339),
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("show lacks %q:\n%s", w, r.stdout)
		}
	}
	r = mustRun(t, "ca", "show", "--dir", dir, "--format", "json")
	var s caShow
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("show --format json: %v\n%s", err, r.stdout)
	}
	if s.TrustDomain != "shop.example.com" || s.Profile != pki.ECDSAP256 || !s.RootKey ||
		s.Root.SHA256 != pki.Fingerprint(ca.Root) || s.Intermediate.Serial != pki.Serial(ca.Intermediate) ||
		len(s.Bundle) != 2 || len(s.PreviousRoots) != 1 || s.Bundle[1].SHA256 != s.PreviousRoots[0].SHA256 ||
		!s.Intermediate.NotAfter.Equal(ca.Intermediate.NotAfter) || s.Rotated.IsZero() {
		t.Errorf("show --format json:\n%s", r.stdout)
	}

	// --force replaces the CA; the old SVIDs stop verifying.
	mustRun(t, "ca", "init", "--dir", dir, "--trust-domain", "shop.example.com", "--force")
	bundle, _ = pki.LoadBundle(filepath.Join(dir, "bundle.pem"))
	if _, err := pki.Verify(bundle, chain); err == nil {
		t.Error("an SVID of the replaced CA verifies")
	}
}

func TestCAProfiles(t *testing.T) {
	tests := []struct {
		profile string
		isType  func(any) bool
	}{
		{"ecdsa-p256", func(k any) bool { _, ok := k.(*ecdsa.PublicKey); return ok }},
		{"ed25519", func(k any) bool { _, ok := k.(ed25519.PublicKey); return ok }},
		{"rsa-3072", func(k any) bool { r, ok := k.(*rsa.PublicKey); return ok && r.N.BitLen() == 3072 }},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			dir := filepath.Join(base, "ca")
			r := mustRun(t, "ca", "init", "--dir", dir, "--trust-domain", "example.org", "--profile", tt.profile)
			if !strings.Contains(r.stdout, "("+tt.profile+")") {
				t.Errorf("init printed:\n%s", r.stdout)
			}
			mustRun(t, "ca", "issue", "--dir", dir, "--spiffe-id", "spiffe://example.org/web", "--out", filepath.Join(base, "web"))
			chain, err := pki.LoadBundle(filepath.Join(base, "web.crt"))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.isType(chain[0].PublicKey) || !tt.isType(chain[1].PublicKey) {
				t.Errorf("keys %T, %T for profile %s", chain[0].PublicKey, chain[1].PublicKey, tt.profile)
			}
			bundle, _ := pki.LoadBundle(filepath.Join(dir, "bundle.pem"))
			if _, err := pki.Verify(bundle, chain); err != nil {
				t.Error(err)
			}
			if r := mustRun(t, "ca", "show", "--dir", dir); !strings.Contains(r.stdout, "profile       "+tt.profile) {
				t.Errorf("show:\n%s", r.stdout)
			}
		})
	}
}

// TestCAErrors: every wrong input is one line on stderr, exit 2 for a
// wrong command line (followed by the usual hint), 1 for a problem with
// the CA or the files.
func TestCAErrors(t *testing.T) {
	base := t.TempDir()
	ca := filepath.Join(base, "ca")
	mustRun(t, "ca", "init", "--dir", ca, "--trust-domain", "example.org")
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(base, "loose")
	mustRun(t, "ca", "init", "--dir", loose, "--trust-domain", "example.org")
	if err := os.Chmod(filepath.Join(loose, "intermediate.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	nope := filepath.Join(base, "nope")
	out := filepath.Join(base, "out")
	const id = "spiffe://example.org/web"
	tests := []struct {
		name string
		args []string
		code int
		want string // the message after "vigil: "
	}{
		{"init: no --dir", []string{"ca", "init", "--trust-domain", "example.org"}, ExitUsage, "--dir DIR is required"},
		{"init: empty --dir", []string{"ca", "init", "--dir", " ", "--trust-domain", "example.org"}, ExitUsage, "--dir DIR is required"},
		{"init: no --trust-domain", []string{"ca", "init", "--dir", nope}, ExitUsage, "--trust-domain TD is required"},
		{"init: upper-case trust domain", []string{"ca", "init", "--dir", nope, "--trust-domain", "Example.org"}, ExitUsage,
			`--trust-domain: "Example.org" is not a SPIFFE trust domain: the trust domain must be in lower case`},
		{"init: trust domain with a port", []string{"ca", "init", "--dir", nope, "--trust-domain", "example.org:8443"}, ExitUsage,
			`--trust-domain: "example.org:8443" is not a SPIFFE trust domain: a port is not allowed`},
		{"init: trust domain with a scheme", []string{"ca", "init", "--dir", nope, "--trust-domain", "spiffe://example.org"}, ExitUsage,
			`--trust-domain: "spiffe://example.org" is not a SPIFFE trust domain: give the trust domain alone, without a scheme (example.org, not spiffe://example.org)`},
		{"init: trust domain with a path", []string{"ca", "init", "--dir", nope, "--trust-domain", "example.org/x"}, ExitUsage,
			`--trust-domain: "example.org/x" is not a SPIFFE trust domain: the trust domain may only hold lower-case letters, digits, '.', '-' and '_'`},
		{"init: unknown profile", []string{"ca", "init", "--dir", nope, "--trust-domain", "example.org", "--profile", "rsa-1024"}, ExitUsage,
			`--profile: unknown key profile "rsa-1024" (want ecdsa-p256, ed25519 or rsa-3072)`},
		{"init: a CA exists", []string{"ca", "init", "--dir", ca, "--trust-domain", "example.org"}, ExitProblem,
			"a CA already exists in " + ca + " (found ca.json); --force replaces it (the SVIDs it issued then stop verifying)"},
		{"init: dir is a file", []string{"ca", "init", "--dir", file, "--trust-domain", "example.org"}, ExitProblem, file + " is not a directory"},

		{"issue: no --dir", []string{"ca", "issue", "--spiffe-id", id, "--out", out}, ExitUsage, "--dir DIR is required"},
		{"issue: no --spiffe-id", []string{"ca", "issue", "--dir", ca, "--out", out}, ExitUsage, "--spiffe-id ID is required"},
		{"issue: no --out", []string{"ca", "issue", "--dir", ca, "--spiffe-id", id}, ExitUsage, "--out PREFIX is required"},
		{"issue: zero --ttl", []string{"ca", "issue", "--dir", ca, "--spiffe-id", id, "--out", out, "--ttl", "0s"}, ExitUsage, "--ttl 0s: the lifetime must be positive"},
		{"issue: negative --ttl", []string{"ca", "issue", "--dir", ca, "--spiffe-id", id, "--out", out, "--ttl", "-1h"}, ExitUsage, "--ttl -1h0m0s: the lifetime must be positive"},
		{"issue: ID of another trust domain", []string{"ca", "issue", "--dir", ca, "--spiffe-id", "spiffe://other.org/web", "--out", out}, ExitProblem,
			`spiffe://other.org/web is of trust domain "other.org", not the CA's "example.org"`},
		{"issue: not a SPIFFE ID", []string{"ca", "issue", "--dir", ca, "--spiffe-id", "web", "--out", out}, ExitUsage,
			`--spiffe-id: "web" is not a SPIFFE ID: it must start with spiffe://`},
		{"issue: ID with a query", []string{"ca", "issue", "--dir", ca, "--spiffe-id", id + "?x=1", "--out", out}, ExitUsage,
			`--spiffe-id: "spiffe://example.org/web?x=1" is not a SPIFFE ID: a query is not allowed`},
		{"issue: ID with ..", []string{"ca", "issue", "--dir", ca, "--spiffe-id", "spiffe://example.org/a/../b", "--out", out}, ExitUsage,
			`--spiffe-id: "spiffe://example.org/a/../b" is not a SPIFFE ID: the path has a . or .. segment`},
		{"issue: the trust domain's ID", []string{"ca", "issue", "--dir", ca, "--spiffe-id", "spiffe://example.org", "--out", out}, ExitUsage,
			"--spiffe-id spiffe://example.org names a trust domain, not a workload: give a path, e.g. spiffe://example.org/ns/default/sa/web"},
		{"issue: no such dir", []string{"ca", "issue", "--dir", nope, "--spiffe-id", id, "--out", out}, ExitProblem,
			"no CA in " + nope + ": the directory does not exist (vigil ca init --dir " + nope + " creates one)"},
		{"issue: a dir without a CA", []string{"ca", "issue", "--dir", empty, "--spiffe-id", id, "--out", out}, ExitProblem,
			"no CA in " + empty + ": ca.json is missing (vigil ca init --dir " + empty + " creates one)"},
		{"issue: a key readable by others", []string{"ca", "issue", "--dir", loose, "--spiffe-id", id, "--out", out}, ExitProblem,
			filepath.Join(loose, "intermediate.key") + " is accessible by others (mode 0644): chmod 600 it"},
		{"issue: --out in the CA dir", []string{"ca", "issue", "--dir", ca, "--spiffe-id", id, "--out", filepath.Join(ca, "intermediate")}, ExitProblem,
			"--out " + filepath.Join(ca, "intermediate") + " is inside the CA directory " + ca + ": write SVIDs elsewhere"},
		{"issue: --out in a missing dir", []string{"ca", "issue", "--dir", ca, "--spiffe-id", id, "--out", filepath.Join(nope, "web")}, ExitProblem,
			"writing " + filepath.Join(nope, "web.key") + ": no such file or directory"},

		{"rotate: no --dir", []string{"ca", "rotate", "--root"}, ExitUsage, "--dir DIR is required"},
		{"rotate: no CA", []string{"ca", "rotate", "--dir", empty}, ExitProblem, "no CA in " + empty + ": ca.json is missing (vigil ca init --dir " + empty + " creates one)"},

		{"show: no --dir", []string{"ca", "show"}, ExitUsage, "--dir DIR is required"},
		{"show: bad --format", []string{"ca", "show", "--dir", ca, "--format", "yaml"}, ExitUsage, `--format "yaml": want text or json`},
		{"show: no CA", []string{"ca", "show", "--dir", nope}, ExitProblem, "no CA in " + nope + ": the directory does not exist (vigil ca init --dir " + nope + " creates one)"},
		{"show: dir is a file", []string{"ca", "show", "--dir", file}, ExitProblem, file + " is not a directory"},
		{"show: dir under a file", []string{"ca", "show", "--dir", filepath.Join(file, "ca")}, ExitProblem, "stat " + filepath.Join(file, "ca") + ": not a directory"},
		{"init: dir under a file", []string{"ca", "init", "--dir", filepath.Join(file, "ca"), "--trust-domain", "example.org"}, ExitProblem, "stat " + filepath.Join(file, "ca") + ": not a directory"},

		{"unknown subcommand", []string{"ca", "sign"}, ExitUsage, `unknown command "sign" for "vigil ca"`},
		{"an argument", []string{"ca", "init", "extra", "--dir", nope, "--trust-domain", "example.org"}, ExitUsage, `unknown command "extra" for "vigil ca init"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, tt.args...)
			if r.code != tt.code {
				t.Fatalf("want exit %d, got %v", tt.code, r)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if lines[0] != "vigil: "+tt.want {
				t.Errorf("stderr:\n got %s\nwant vigil: %s", lines[0], tt.want)
			}
			wantLines := 1
			if tt.code == ExitUsage {
				wantLines = 2 // and "Run 'vigil --help' for usage."
			}
			if len(lines) != wantLines {
				t.Errorf("%d lines on stderr, want %d:\n%s", len(lines), wantLines, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
			for _, p := range []string{nope, out + ".crt", out + ".key"} {
				if _, err := os.Stat(p); err == nil {
					t.Fatalf("a failed command wrote %s", p)
				}
			}
		})
	}
	// Nothing in the CA dir changed.
	ents, _ := os.ReadDir(ca)
	if len(ents) != 6 {
		t.Errorf("the CA dir holds %d files, want 6", len(ents))
	}
}

// TestCAOfflineRoot: without root.key, issue and show work and rotate
// says what it needs.
func TestCAOfflineRoot(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "ca")
	mustRun(t, "ca", "init", "--dir", dir, "--trust-domain", "example.org")
	if err := os.Rename(filepath.Join(dir, "root.key"), filepath.Join(base, "root.key")); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ca", "issue", "--dir", dir, "--spiffe-id", "spiffe://example.org/web", "--out", filepath.Join(base, "web"))
	if r := mustRun(t, "ca", "show", "--dir", dir); !strings.Contains(r.stdout, "  key         not in the directory (offline): no rotation\n") {
		t.Errorf("show:\n%s", r.stdout)
	}
	if r := mustRun(t, "ca", "show", "--dir", dir, "-f", "json"); !strings.Contains(r.stdout, `"root_key": false`) {
		t.Errorf("show --format json:\n%s", r.stdout)
	}
	r := run(t, nil, "ca", "rotate", "--dir", dir)
	if r.code != ExitProblem || r.stderr != "vigil: "+filepath.Join(dir, "root.key")+" is missing: rotation needs the root key\n" {
		t.Errorf("rotate without root.key: %v", r)
	}
}

// TestCAIssueCapped: an SVID asked to outlive the intermediate ends with
// it, and issue says so.
func TestCAIssueCapped(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "ca")
	ca, err := pki.Init(dir, "example.org", pki.InitOptions{IntermediateTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "ca", "issue", "--dir", dir, "--spiffe-id", "spiffe://example.org/web", "--out", filepath.Join(base, "web"), "--ttl", "48h")
	if !strings.Contains(r.stdout, "until "+ca.Intermediate.NotAfter.UTC().Format(time.RFC3339)) {
		t.Errorf("issue:\n%s", r.stdout)
	}
	want := "vigil: note: the lifetime was cut short at the intermediate's end, " + ca.Intermediate.NotAfter.UTC().Format(time.RFC3339) + ": vigil ca rotate --dir " + dir + "\n"
	if r.stderr != want {
		t.Errorf("stderr:\n got %q\nwant %q", r.stderr, want)
	}
	chain, _ := pki.LoadBundle(filepath.Join(base, "web.crt"))
	if !chain[0].NotAfter.Equal(ca.Intermediate.NotAfter) {
		t.Errorf("NotAfter %s, want the intermediate's %s", chain[0].NotAfter, ca.Intermediate.NotAfter)
	}
}

func TestCAUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	dir := filepath.Join(t.TempDir(), "ca")
	mustRun(t, "ca", "init", "--dir", dir, "--trust-domain", "example.org")
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	r := run(t, nil, "ca", "show", "--dir", dir)
	if r.code != ExitProblem || r.stderr != "vigil: open "+filepath.Join(dir, "ca.json")+": permission denied\n" {
		t.Fatalf("show of an unreadable dir: %v", r)
	}
}
