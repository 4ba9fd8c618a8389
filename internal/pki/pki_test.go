package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const td = "example.org"

// newCA initialises a CA in a new temporary directory.
func newCA(t testing.TB, o InitOptions) *CA {
	t.Helper()
	ca, err := Init(filepath.Join(t.TempDir(), "ca"), td, o)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t testing.TB, ca *CA, id string, ttl time.Duration) *SVID {
	t.Helper()
	s, err := ca.IssueSVID(id, nil, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mode(t testing.TB, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func near(a, b time.Time) bool { d := a.Sub(b); return d < 10*time.Second && d > -10*time.Second }

func TestInit(t *testing.T) {
	tests := []struct {
		profile Profile
		keyType func(crypto.PublicKey) bool
	}{
		{"", func(k crypto.PublicKey) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P256() }},
		{ECDSAP256, func(k crypto.PublicKey) bool { e, ok := k.(*ecdsa.PublicKey); return ok && e.Curve == elliptic.P256() }},
		{Ed25519, func(k crypto.PublicKey) bool { _, ok := k.(ed25519.PublicKey); return ok }},
		{RSA3072, func(k crypto.PublicKey) bool { r, ok := k.(*rsa.PublicKey); return ok && r.N.BitLen() == 3072 }},
	}
	for _, tt := range tests {
		t.Run(string(tt.profile), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "nested", "ca")
			now := time.Now()
			ca, err := Init(dir, td, InitOptions{Profile: tt.profile})
			if err != nil {
				t.Fatal(err)
			}
			if m := mode(t, dir); m != 0o700 {
				t.Errorf("dir mode %04o, want 0700", m)
			}
			for f, want := range map[string]fs.FileMode{RootKeyFile: 0o600, IntermediateKeyFile: 0o600, RootCertFile: 0o644, IntermediateCertFile: 0o644, BundleFile: 0o644, StateFile: 0o644} {
				if m := mode(t, filepath.Join(dir, f)); m != want {
					t.Errorf("%s mode %04o, want %04o", f, m, want)
				}
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 6 {
				t.Errorf("%d files in the CA dir, want 6 (no temporary files left)", len(ents))
			}
			for _, f := range []string{RootKeyFile, IntermediateKeyFile} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----\n")) {
					t.Errorf("%s is not PKCS#8 PEM: %.40q", f, b)
				}
			}
			want := tt.profile
			if want == "" {
				want = ECDSAP256
			}
			if ca.Profile != want || ca.TrustDomain != td {
				t.Errorf("CA %s/%s, want %s/%s", ca.TrustDomain, ca.Profile, td, want)
			}
			root, inter := ca.Root, ca.Intermediate
			if !tt.keyType(root.PublicKey) || !tt.keyType(inter.PublicKey) {
				t.Errorf("key types %T, %T for profile %q", root.PublicKey, inter.PublicKey, tt.profile)
			}
			if err := root.CheckSignatureFrom(root); err != nil {
				t.Errorf("root is not self-signed: %v", err)
			}
			if err := inter.CheckSignatureFrom(root); err != nil {
				t.Errorf("intermediate not signed by root: %v", err)
			}
			if !root.IsCA || !inter.IsCA || !inter.MaxPathLenZero || inter.MaxPathLen != 0 || root.MaxPathLen != 1 {
				t.Errorf("basic constraints: root CA %v pathlen %d, intermediate CA %v pathlen %d (zero %v)", root.IsCA, root.MaxPathLen, inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
			}
			for _, c := range []*x509.Certificate{root, inter} {
				if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
					t.Errorf("%s: key usage %b, want keyCertSign|cRLSign only", c.Subject, c.KeyUsage)
				}
				if len(c.URIs) != 1 || c.URIs[0].String() != "spiffe://"+td {
					t.Errorf("%s: URIs %v, want the trust domain's ID", c.Subject, c.URIs)
				}
				if c.SerialNumber.BitLen() > 128 || c.SerialNumber.Sign() <= 0 {
					t.Errorf("%s: serial %x", c.Subject, c.SerialNumber)
				}
				if !near(c.NotBefore, now.Add(-Backdate)) {
					t.Errorf("%s: NotBefore %s, want about a minute ago", c.Subject, c.NotBefore)
				}
			}
			if !near(root.NotAfter, now.Add(DefaultRootTTL)) || !near(inter.NotAfter, now.Add(DefaultIntermediateTTL)) {
				t.Errorf("lifetimes: root until %s, intermediate until %s", root.NotAfter, inter.NotAfter)
			}
			if len(ca.Bundle) != 1 || !ca.Bundle[0].Equal(root) {
				t.Errorf("bundle holds %d certificates, want the root", len(ca.Bundle))
			}
			var st map[string]any
			b, _ := os.ReadFile(filepath.Join(dir, StateFile))
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			if st["trust_domain"] != td || st["profile"] != string(want) || st["serials"] != "random-128" {
				t.Errorf("ca.json: %s", b)
			}
			if r, _ := st["root"].(map[string]any); r["serial"] != Serial(root) || r["sha256"] != Fingerprint(root) {
				t.Errorf("ca.json root: %v", r)
			}

			// An SVID of the profile verifies against the bundle.
			s := issue(t, ca, "spiffe://example.org/web", 0)
			if !tt.keyType(s.Cert.PublicKey) {
				t.Errorf("SVID key %T for profile %q", s.Cert.PublicKey, tt.profile)
			}
			if id, err := Verify(ca.Bundle, s.Chain); err != nil || id.String() != "spiffe://example.org/web" {
				t.Errorf("Verify: %v, %v", id, err)
			}
			_, rsaKey := s.Key.(*rsa.PrivateKey)
			wantKU := x509.KeyUsageDigitalSignature
			if rsaKey {
				wantKU |= x509.KeyUsageKeyEncipherment
			}
			if s.Cert.KeyUsage != wantKU {
				t.Errorf("SVID key usage %b, want %b", s.Cert.KeyUsage, wantKU)
			}
		})
	}
}

func TestInitLifetimes(t *testing.T) {
	ca := newCA(t, InitOptions{RootTTL: time.Hour, IntermediateTTL: 48 * time.Hour})
	if !ca.Intermediate.NotAfter.Equal(ca.Root.NotAfter) {
		t.Errorf("intermediate until %s, beyond the root's %s", ca.Intermediate.NotAfter, ca.Root.NotAfter)
	}
	s := issue(t, ca, "spiffe://example.org/web", 0)
	if !s.Cert.NotAfter.Equal(ca.Root.NotAfter) {
		t.Errorf("SVID until %s, want capped at %s", s.Cert.NotAfter, ca.Root.NotAfter)
	}
}

func TestInitExisting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	first, err := Init(dir, td, InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Init(dir, td, InitOptions{})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Init: %v, want ErrExists naming the dir", err)
	}
	if ca, err := Load(dir); err != nil || !ca.Root.Equal(first.Root) {
		t.Fatalf("the refused Init changed the CA: %v", err)
	}
	second, err := Init(dir, "other.org", InitOptions{Force: true, Profile: Ed25519})
	if err != nil {
		t.Fatalf("Init with Force: %v", err)
	}
	if second.Root.Equal(first.Root) || second.TrustDomain != "other.org" {
		t.Errorf("Force did not replace the CA")
	}

	// Any one CA file is a CA.
	for _, f := range caFiles {
		t.Run(f, func(t *testing.T) {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Init(d, td, InitOptions{}); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), f) {
				t.Fatalf("Init over a dir with %s: %v", f, err)
			}
		})
	}

	// An existing empty directory is used, and closed to others.
	d := t.TempDir()
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(d, td, InitOptions{}); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, d); m != 0o700 {
		t.Errorf("existing dir left at mode %04o", m)
	}
}

func TestInitErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, td string
		o             InitOptions
		want          string
	}{
		{"bad trust domain", "", "Example.org", InitOptions{}, `"Example.org" is not a SPIFFE trust domain: the trust domain must be in lower case`},
		{"trust domain with port", "", "example.org:443", InitOptions{}, "a port is not allowed"},
		{"trust domain with scheme", "", "spiffe://example.org", InitOptions{}, "without a scheme"},
		{"empty trust domain", "", "", InitOptions{}, "the trust domain is missing"},
		{"unknown profile", "", td, InitOptions{Profile: "rsa-1024"}, `unknown key profile "rsa-1024"`},
		{"negative TTL", "", td, InitOptions{RootTTL: -time.Hour}, "root lifetime -1h0m0s is negative"},
		{"dir is a file", file, td, InitOptions{}, "is not a directory"},
		{"no dir", "-", td, InitOptions{}, "no CA directory given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			switch dir {
			case "":
				dir = filepath.Join(t.TempDir(), "ca")
			case "-":
				dir = ""
			}
			_, err := Init(dir, tt.td, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Init: %v, want %q", err, tt.want)
			}
			if tt.dir == "" {
				if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a refused Init created %s", dir)
				}
			}
		})
	}
}

func TestSVID(t *testing.T) {
	ca := newCA(t, InitOptions{})
	now := time.Now()
	const id = "spiffe://example.org/ns/shop/sa/web"
	s := issue(t, ca, id, 0)
	c := s.Cert

	uris, err := uriSANs(c)
	if err != nil || len(uris) != 1 || uris[0] != id {
		t.Errorf("URI SANs %q (%v), want exactly [%s]", uris, err, id)
	}
	if len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses) != 0 {
		t.Errorf("other SANs: %v %v %v", c.DNSNames, c.IPAddresses, c.EmailAddresses)
	}
	if len(c.Subject.Names) != 0 {
		t.Errorf("subject %q, want empty", c.Subject)
	}
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSubjectAltName) && !e.Critical {
			t.Error("the subject is empty but the SAN extension is not critical (RFC 5280 4.1.2.6, X509-SVID 3.1)")
		}
	}
	if !c.BasicConstraintsValid || c.IsCA {
		t.Errorf("basic constraints valid %v CA %v, want CA false", c.BasicConstraintsValid, c.IsCA)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %b, want digitalSignature only", c.KeyUsage)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) || len(c.UnknownExtKeyUsage) != 0 {
		t.Errorf("EKU %v, want serverAuth, clientAuth", c.ExtKeyUsage)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 96 {
		t.Errorf("serial %x is not a positive random 128-bit number", c.SerialNumber)
	}
	if !near(c.NotBefore, now.Add(-time.Minute)) || !near(c.NotAfter, now.Add(24*time.Hour)) {
		t.Errorf("validity %s..%s, want a minute ago..in 24h", c.NotBefore, c.NotAfter)
	}
	if !bytes.Equal(c.AuthorityKeyId, ca.Intermediate.SubjectKeyId) || len(c.SubjectKeyId) == 0 {
		t.Errorf("key identifiers: authority %x, intermediate %x, subject %x", c.AuthorityKeyId, ca.Intermediate.SubjectKeyId, c.SubjectKeyId)
	}
	if len(s.Chain) != 2 || !s.Chain[0].Equal(c) || !s.Chain[1].Equal(ca.Intermediate) {
		t.Errorf("chain is not leaf, intermediate")
	}
	if s.ID.String() != id {
		t.Errorf("ID %s", s.ID)
	}
	// x509.Verify itself, for each of the usages a TLS peer checks.
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		chains, err := c.Verify(x509.VerifyOptions{Roots: Pool(ca.Bundle), Intermediates: Pool(s.Chain[1:]), KeyUsages: []x509.ExtKeyUsage{u}})
		if err != nil || len(chains) != 1 || len(chains[0]) != 3 || !chains[0][2].Equal(ca.Root) {
			t.Errorf("x509 Verify for %v: %v", u, err)
		}
	}
	// Serials differ.
	if s2 := issue(t, ca, id, 0); s2.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two SVIDs with one serial")
	}
}

func TestIssueTTL(t *testing.T) {
	ca := newCA(t, InitOptions{IntermediateTTL: 2 * time.Hour})
	now := time.Now()
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Time
	}{
		{"default", 0, ca.Intermediate.NotAfter}, // 24h, capped at 2h
		{"one hour", time.Hour, now.Add(time.Hour)},
		{"five minutes", 5 * time.Minute, now.Add(5 * time.Minute)},
		{"beyond the intermediate", 30 * 24 * time.Hour, ca.Intermediate.NotAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := issue(t, ca, "spiffe://example.org/web", tt.ttl)
			if !near(s.Cert.NotAfter, tt.want) || s.Cert.NotAfter.After(ca.Intermediate.NotAfter) {
				t.Errorf("NotAfter %s, want %s (intermediate until %s)", s.Cert.NotAfter, tt.want, ca.Intermediate.NotAfter)
			}
			if _, err := verifyAt(ca.Bundle, s.Chain, s.Cert.NotAfter.Add(time.Second)); err == nil {
				t.Error("the SVID verifies after its NotAfter")
			}
		})
	}
	if _, err := ca.IssueSVID("spiffe://example.org/web", nil, -time.Second); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative TTL: %v", err)
	}

	// An intermediate that expired refuses to issue.
	past := time.Now().Add(-48 * time.Hour)
	old := newCA(t, InitOptions{IntermediateTTL: time.Hour, Now: func() time.Time { return past }})
	old.now = time.Now
	if _, err := old.IssueSVID("spiffe://example.org/web", nil, 0); err == nil || !strings.Contains(err.Error(), "intermediate CA expired") {
		t.Errorf("issuing from an expired intermediate: %v", err)
	}
}

func TestIssueErrors(t *testing.T) {
	ca := newCA(t, InitOptions{})
	tests := []struct {
		id   string
		is   error
		want string
	}{
		{"spiffe://other.org/web", ErrOtherTrustDomain, `spiffe://other.org/web is of trust domain "other.org", not the CA's "example.org"`},
		{"spiffe://example.org", nil, "names the trust domain, not a workload"},
		{"spiffe://Example.org/web", nil, "must be in lower case"},
		{"spiffe://example.org/../web", nil, ". or .. segment"},
		{"spiffe://example.org:443/web", nil, "port is not allowed"},
		{"web", nil, "must start with spiffe://"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			_, err := ca.IssueSVID(tt.id, nil, 0)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("IssueSVID(%q): %v, want %q", tt.id, err, tt.want)
			}
		})
	}
}

func TestKeyPolicy(t *testing.T) {
	ca := newCA(t, InitOptions{})
	gen := func(f func() (crypto.Signer, error)) crypto.Signer {
		k, err := f()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ec := func(c elliptic.Curve) func() (crypto.Signer, error) {
		return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
	}
	rsaKey := func(bits int) func() (crypto.Signer, error) {
		return func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }
	}
	tests := []struct {
		name string
		key  crypto.Signer
		want string // "" accepted
	}{
		{"P-256", gen(ec(elliptic.P256())), ""},
		{"P-384", gen(ec(elliptic.P384())), ""},
		{"P-224", gen(ec(elliptic.P224())), "curve P-224 refused"},
		{"P-521", gen(ec(elliptic.P521())), "curve P-521 refused"},
		{"Ed25519", gen(func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }), ""},
		{"RSA 2048", gen(rsaKey(2048)), ""},
		{"RSA 1024", gen(rsaKey(1024)), "RSA key of 1024 bits refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckKey(tt.key.Public()); (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("CheckKey: %v, want %q", err, tt.want)
			}
			s, err := ca.IssueSVID("spiffe://example.org/web", tt.key, 0)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("IssueSVID: %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !s.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.key.Public()) {
				t.Error("the SVID is not for the key given")
			}
			if _, err := Verify(ca.Bundle, s.Chain); err != nil {
				t.Error(err)
			}
		})
	}
	if err := CheckKey(struct{}{}); err == nil {
		t.Error("an unknown key type accepted")
	}
}

func TestIssueConcurrent(t *testing.T) {
	ca := newCA(t, InitOptions{})
	const n = 16
	serials := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := ca.IssueSVID("spiffe://example.org/web", nil, 0)
			if err != nil {
				t.Error(err)
				return
			}
			serials[i] = Serial(s.Cert)
		}()
	}
	wg.Wait()
	slices.Sort(serials)
	if len(slices.Compact(serials)) != n {
		t.Errorf("serials repeat: %v", serials)
	}
}

func TestSVIDFiles(t *testing.T) {
	ca := newCA(t, InitOptions{})
	s := issue(t, ca, "spiffe://example.org/web", 0)
	prefix := filepath.Join(t.TempDir(), "web")
	if err := s.WriteFiles(prefix); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, prefix+".key"); m != 0o600 {
		t.Errorf("key mode %04o", m)
	}
	chain, err := LoadBundle(prefix + ".crt")
	if err != nil || len(chain) != 2 || !chain[0].Equal(s.Cert) || !chain[1].Equal(ca.Intermediate) {
		t.Fatalf("PREFIX.crt: %v", err)
	}
	b, _ := os.ReadFile(prefix + ".key")
	k, err := readKey(filepath.Dir(prefix), "web.key", s.Cert)
	if err != nil || !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----")) || k == nil {
		t.Fatalf("PREFIX.key: %v", err)
	}
	if id, err := Verify(ca.Bundle, chain); err != nil || id != s.ID {
		t.Fatalf("Verify(PREFIX.crt): %v %v", id, err)
	}
}

func TestRotate(t *testing.T) {
	t0 := time.Now()
	at := func(d time.Duration) func() time.Time { return func() time.Time { return t0.Add(d) } }
	const day = 24 * time.Hour
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := Init(dir, td, InitOptions{Now: at(0)})
	if err != nil {
		t.Fatal(err)
	}
	root1 := ca.Root
	a := issue(t, ca, "spiffe://example.org/a", 0)

	// The intermediate alone: same root, same bundle.
	ca, err = Rotate(dir, RotateOptions{Now: at(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Root.Equal(root1) || ca.Intermediate.Equal(a.Chain[1]) || len(ca.Bundle) != 1 {
		t.Fatalf("intermediate rotation: root kept %v, intermediate new %v, bundle %d", ca.Root.Equal(root1), !ca.Intermediate.Equal(a.Chain[1]), len(ca.Bundle))
	}
	b := issue(t, ca, "spiffe://example.org/b", 0)

	// And the root: bundle.pem holds the new root, then the old one.
	ca, err = Rotate(dir, RotateOptions{Root: true, Now: at(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	root2 := ca.Root
	if root2.Equal(root1) || len(ca.Bundle) != 2 || !ca.Bundle[0].Equal(root2) || !ca.Bundle[1].Equal(root1) {
		t.Fatalf("root rotation: bundle of %d, want [new root, old root]", len(ca.Bundle))
	}
	if err := ca.Intermediate.CheckSignatureFrom(root2); err != nil {
		t.Fatalf("the new intermediate is not signed by the new root: %v", err)
	}
	c := issue(t, ca, "spiffe://example.org/c", 0)

	// Read back from disk, as a peer would.
	bundle, err := LoadBundle(filepath.Join(dir, BundleFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*SVID{a, b, c} {
		if id, err := verifyAt(bundle, s.Chain, t0.Add(3*time.Hour)); err != nil || id != s.ID {
			t.Errorf("%s, issued before the rotation, against the new bundle: %v", s.ID, err)
		}
	}
	// The new bundle without the old root: only the new SVID verifies.
	for _, s := range []*SVID{a, b} {
		if _, err := verifyAt(bundle[:1], s.Chain, t0.Add(3*time.Hour)); err == nil {
			t.Errorf("%s verifies against the new root alone", s.ID)
		}
	}
	st := ca.State
	if len(st.PreviousRoots) != 1 || st.PreviousRoots[0].SHA256 != Fingerprint(root1) || !st.PreviousRoots[0].KeepUntil.Equal(b.Chain[1].NotAfter) {
		t.Fatalf("ca.json previous roots %+v, want root1 until the old intermediate's end %s", st.PreviousRoots, b.Chain[1].NotAfter)
	}
	if !st.Rotated.Equal(t0.Add(2*time.Hour).UTC()) || st.Root.SHA256 != Fingerprint(root2) {
		t.Errorf("ca.json after rotation: %+v", st)
	}

	for f, want := range map[string]fs.FileMode{RootKeyFile: 0o600, IntermediateKeyFile: 0o600, BundleFile: 0o644, StateFile: 0o644} {
		if m := mode(t, filepath.Join(dir, f)); m != want {
			t.Errorf("after rotation, %s has mode %04o, want %04o", f, m, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 6 {
		t.Errorf("after rotation, %d files in the CA dir, want 6", len(ents))
	}

	// A root added to bundle.pem by hand (say, of a CA being migrated
	// from) stays while it is valid.
	foreign := newCA(t, InitOptions{}).Root
	bf := filepath.Join(dir, BundleFile)
	pemBytes, _ := os.ReadFile(bf)
	if err := os.WriteFile(bf, append(pemBytes, certsPEM([]*x509.Certificate{foreign})...), 0o644); err != nil {
		t.Fatal(err)
	}

	// 100 days on, another root: three roots, all still needed, and the
	// one added by hand.
	if ca, err = Rotate(dir, RotateOptions{Root: true, Now: at(100 * day)}); err != nil {
		t.Fatal(err)
	}
	root3 := ca.Root
	if len(ca.Bundle) != 4 || !ca.Bundle[3].Equal(foreign) {
		t.Fatalf("bundle of %d roots, want 4: root3, root2, root1, the one added by hand", len(ca.Bundle))
	}
	// 400 days on: root1 and root2 signed nothing still valid; root3's
	// intermediate (from day 100) lives on.
	if ca, err = Rotate(dir, RotateOptions{Root: true, Now: at(400 * day)}); err != nil {
		t.Fatal(err)
	}
	if len(ca.Bundle) != 3 || !ca.Bundle[1].Equal(root3) || !ca.Bundle[2].Equal(foreign) || len(ca.State.PreviousRoots) != 1 {
		t.Fatalf("after 400 days: bundle of %d roots, want [root4, root3, the one added by hand]", len(ca.Bundle))
	}
	// Once it has expired, the root added by hand goes too.
	if _, err = Rotate(dir, RotateOptions{Now: at(400*day + DefaultRootTTL + day)}); err == nil || !strings.Contains(err.Error(), "the root expired") {
		t.Fatalf("rotating the intermediate of an expired root: %v", err)
	}
	if ca, err = Rotate(dir, RotateOptions{Root: true, Now: at(400*day + DefaultRootTTL + 2*day)}); err != nil {
		t.Fatal(err)
	}
	if len(ca.Bundle) != 1 {
		t.Fatalf("10 years on: bundle of %d roots, want the new one alone", len(ca.Bundle))
	}
}

func TestLoadErrors(t *testing.T) {
	good := newCA(t, InitOptions{})
	other := newCA(t, InitOptions{})
	copyCA := func(t *testing.T) string {
		d := t.TempDir()
		for _, f := range caFiles {
			b, err := os.ReadFile(filepath.Join(good.Dir(), f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), b, mode(t, filepath.Join(good.Dir(), f))); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir string)
		is      error
		want    string
	}{
		{"no directory", func(t *testing.T, d string) { os.RemoveAll(d) }, ErrNoCA, "the directory does not exist"},
		{"empty directory", func(t *testing.T, d string) {
			for _, f := range caFiles {
				os.Remove(filepath.Join(d, f))
			}
		}, ErrNoCA, "ca.json is missing"},
		{"a key readable by others", func(t *testing.T, d string) { os.Chmod(filepath.Join(d, IntermediateKeyFile), 0o644) }, nil, "accessible by others (mode 0644): chmod 600 it"},
		{"the key of another CA", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(other.Dir(), IntermediateKeyFile))
			os.WriteFile(filepath.Join(d, IntermediateKeyFile), b, 0o600)
		}, nil, "does not match the public key of its certificate"},
		{"the intermediate of another CA", func(t *testing.T, d string) {
			for _, f := range []string{IntermediateKeyFile, IntermediateCertFile} {
				b, _ := os.ReadFile(filepath.Join(other.Dir(), f))
				os.WriteFile(filepath.Join(d, f), b, 0o600)
			}
		}, nil, "is not a CA certificate signed by"},
		{"a bundle without the root", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(other.Dir(), BundleFile))
			os.WriteFile(filepath.Join(d, BundleFile), b, 0o644)
		}, nil, "bundle.pem does not start with"},
		{"another trust domain in ca.json", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(d, StateFile))
			os.WriteFile(filepath.Join(d, StateFile), bytes.ReplaceAll(b, []byte(`"example.org"`), []byte(`"other.org"`)), 0o644)
		}, nil, `is not the root of trust domain "other.org"`},
		{"ca.json not JSON", func(t *testing.T, d string) { os.WriteFile(filepath.Join(d, StateFile), []byte("{"), 0o644) }, nil, "ca.json: unexpected EOF"},
		{"ca.json with an unknown field", func(t *testing.T, d string) {
			os.WriteFile(filepath.Join(d, StateFile), []byte(`{"version":1,"trust_domian":"x"}`), 0o644)
		}, nil, `unknown field "trust_domian"`},
		{"not a certificate", func(t *testing.T, d string) { os.WriteFile(filepath.Join(d, RootCertFile), []byte("hello"), 0o644) }, nil, "root.crt: trailing data that is not PEM"},
		{"a key that is not PKCS#8", func(t *testing.T, d string) {
			os.WriteFile(filepath.Join(d, IntermediateKeyFile), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600)
		}, nil, "no PEM PRIVATE KEY (PKCS#8) block"},
		{"the intermediate key missing", func(t *testing.T, d string) { os.Remove(filepath.Join(d, IntermediateKeyFile)) }, fs.ErrNotExist, "intermediate.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyCA(t)
			if _, err := Load(d); err != nil {
				t.Fatalf("the copy does not load: %v", err)
			}
			tt.breakIt(t, d)
			_, err := Load(d)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("Load: %v, want %q", err, tt.want)
			}
		})
	}

	// A root kept offline: issuing works, rotating does not.
	t.Run("root key offline", func(t *testing.T) {
		d := copyCA(t)
		os.Remove(filepath.Join(d, RootKeyFile))
		ca, err := Load(d)
		if err != nil {
			t.Fatal(err)
		}
		issue(t, ca, "spiffe://example.org/web", 0)
		if _, err := Rotate(d, RotateOptions{}); err == nil || !strings.Contains(err.Error(), "root.key is missing: rotation needs the root key") {
			t.Fatalf("Rotate without the root key: %v", err)
		}
	})

	t.Run("unreadable directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads any directory")
		}
		d := copyCA(t)
		os.Chmod(d, 0)
		defer os.Chmod(d, 0o700)
		if _, err := Load(d); err == nil || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Load: %v, want permission denied", err)
		}
	})
}

// forge signs a leaf from tmpl with the CA's intermediate, bypassing
// IssueSVID's checks, for the validator's tests.
func forge(t *testing.T, ca *CA, tmpl *x509.Certificate) []*x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := newSerial()
	tmpl.SerialNumber = serial
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Intermediate, key.Public(), ca.intKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{c, ca.Intermediate}
}

func TestVerify(t *testing.T) {
	ca := newCA(t, InitOptions{})
	other := newCA(t, InitOptions{}) // the same trust domain name, another CA
	u := func(ss ...string) []*url.URL {
		var us []*url.URL
		for _, s := range ss {
			x, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			us = append(us, x)
		}
		return us
	}
	leaf := func(uris []*url.URL) *x509.Certificate {
		return &x509.Certificate{
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, URIs: uris,
		}
	}
	good := issue(t, ca, "spiffe://example.org/web", 0)
	tests := []struct {
		name   string
		bundle []*x509.Certificate
		chain  []*x509.Certificate
		want   string // "" valid
	}{
		{"valid", ca.Bundle, good.Chain, ""},
		{"a forged leaf like IssueSVID's", ca.Bundle, forge(t, ca, leaf(u("spiffe://example.org/x"))), ""},
		{"no EKU at all", ca.Bundle, forge(t, ca, &x509.Certificate{BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature, URIs: u("spiffe://example.org/x")}), ""},
		{"leaf alone, no intermediate", ca.Bundle, good.Chain[:1], "certificate signed by unknown authority"},
		{"another CA's bundle", other.Bundle, good.Chain, "certificate signed by unknown authority"},
		{"empty bundle", nil, good.Chain, "the trust bundle is empty"},
		{"no chain", ca.Bundle, nil, "no certificate"},
		{"the intermediate as leaf", ca.Bundle, []*x509.Certificate{ca.Intermediate}, "is a CA certificate"},
		{"the root as leaf", ca.Bundle, []*x509.Certificate{ca.Root}, "is a CA certificate"},
		{"two URI SANs", ca.Bundle, forge(t, ca, leaf(u("spiffe://example.org/a", "spiffe://example.org/b"))), "2 URI SANs; an SVID has exactly one"},
		{"a SPIFFE and an https URI", ca.Bundle, forge(t, ca, leaf(u("spiffe://example.org/a", "https://example.org/b"))), "2 URI SANs"},
		{"no URI SAN", ca.Bundle, forge(t, ca, func() *x509.Certificate { c := leaf(nil); c.DNSNames = []string{"web"}; return c }()), "no URI SAN"},
		{"not a SPIFFE URI", ca.Bundle, forge(t, ca, leaf(u("https://example.org/web"))), "must start with spiffe://"},
		{"the trust domain ID", ca.Bundle, forge(t, ca, leaf(u("spiffe://example.org"))), "names a trust domain, not a workload"},
		{"upper-case trust domain", ca.Bundle, forge(t, ca, leaf(u("spiffe://Example.org/web"))), "lower case"},
		{"keyCertSign on a leaf", ca.Bundle, forge(t, ca, func() *x509.Certificate {
			c := leaf(u("spiffe://example.org/x"))
			c.KeyUsage |= x509.KeyUsageCertSign
			return c
		}()), "must not have the keyCertSign or cRLSign"},
		{"cRLSign on a leaf", ca.Bundle, forge(t, ca, func() *x509.Certificate {
			c := leaf(u("spiffe://example.org/x"))
			c.KeyUsage |= x509.KeyUsageCRLSign
			return c
		}()), "must not have the keyCertSign or cRLSign"},
		{"serverAuth only", ca.Bundle, forge(t, ca, func() *x509.Certificate {
			c := leaf(u("spiffe://example.org/x"))
			c.ExtKeyUsage = c.ExtKeyUsage[:1]
			return c
		}()), "lacks serverAuth or clientAuth"},
		{"expired", ca.Bundle, forge(t, ca, func() *x509.Certificate {
			c := leaf(u("spiffe://example.org/x"))
			c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
			return c
		}()), "expired"},
		{"an ID of another trust domain under this root", ca.Bundle, forge(t, ca, leaf(u("spiffe://evil.org/x"))), "spiffe://evil.org/x chains to a root of another trust domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Verify(tt.bundle, tt.chain)
			if tt.want == "" {
				if err != nil || !id.IsWorkload() {
					t.Fatalf("Verify: %v, %v", id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify: %v, %v; want %q", id, err, tt.want)
			}
			if id != (ID{}) {
				t.Errorf("an ID with an error: %v", id)
			}
			if strings.Contains(tt.want, "another trust domain") && !errors.Is(err, ErrOtherTrustDomain) {
				t.Errorf("%v is not ErrOtherTrustDomain", err)
			}
		})
	}
	// IDFromCert on nothing.
	if _, err := IDFromCert(nil); err == nil {
		t.Error("IDFromCert(nil) without error")
	}
}
