package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// The files of a CA directory.
const (
	RootCertFile         = "root.crt"
	RootKeyFile          = "root.key"
	IntermediateCertFile = "intermediate.crt"
	IntermediateKeyFile  = "intermediate.key"
	BundleFile           = "bundle.pem"
	StateFile            = "ca.json"
)

// caFiles are the files whose presence means a directory holds a CA.
var caFiles = []string{StateFile, RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile, BundleFile}

// Errors callers tell apart with errors.Is.
var (
	// ErrExists: Init found a CA where it was to create one.
	ErrExists = errors.New("a CA already exists")
	// ErrNoCA: the directory holds no CA.
	ErrNoCA = errors.New("no CA")
	// ErrOtherTrustDomain: a SPIFFE ID of a trust domain other than the
	// CA's.
	ErrOtherTrustDomain = errors.New("SPIFFE ID of another trust domain")
)

// stateVersion is the version of ca.json this package writes.
const stateVersion = 1

// State is ca.json: what the certificates do not say, and a summary of
// what they do for people reading the directory.
type State struct {
	Version     int     `json:"version"`
	TrustDomain string  `json:"trust_domain"`
	Profile     Profile `json:"profile"`
	// Serials says how serial numbers are made: "random-128", a random
	// positive 128-bit number per certificate, so that none repeats or
	// can be guessed; no counter is kept.
	Serials       string         `json:"serials"`
	Root          CertInfo       `json:"root"`
	Intermediate  CertInfo       `json:"intermediate"`
	PreviousRoots []PreviousRoot `json:"previous_roots,omitempty"`
	Created       time.Time      `json:"created"`
	Rotated       time.Time      `json:"rotated,omitzero"`
}

// CertInfo describes one CA certificate.
type CertInfo struct {
	Subject   string    `json:"subject"`
	Serial    string    `json:"serial"`
	SHA256    string    `json:"sha256"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// PreviousRoot is a root rotated out and kept in bundle.pem until
// KeepUntil, when the last SVID it can have signed (through the
// intermediate current at its rotation) has expired.
type PreviousRoot struct {
	CertInfo
	KeepUntil time.Time `json:"keep_until"`
}

// Info describes cert.
func Info(cert *x509.Certificate) CertInfo {
	return CertInfo{
		Subject: cert.Subject.String(), Serial: Serial(cert), SHA256: Fingerprint(cert),
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(),
	}
}

// InitOptions are the options of Init. The zero value is the defaults.
type InitOptions struct {
	// Profile is the key algorithm (default ECDSAP256).
	Profile Profile
	// RootTTL is the root's lifetime (default 10 years).
	RootTTL time.Duration
	// IntermediateTTL is the intermediate's lifetime (default 1 year),
	// never beyond the root's.
	IntermediateTTL time.Duration
	// Force replaces a CA already in the directory. Every SVID it issued
	// stops verifying against the new bundle.
	Force bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Init creates a CA for trustDomain in dir: a root, an intermediate
// signed by it, the bundle and ca.json. It creates dir (mode 0700) if
// needed, and refuses (ErrExists) to replace a CA without o.Force.
func Init(dir, trustDomain string, o InitOptions) (*CA, error) {
	if err := ValidateTrustDomain(trustDomain); err != nil {
		return nil, err
	}
	p, err := ParseProfile(string(o.Profile))
	if err != nil {
		return nil, err
	}
	rootTTL, err := ttlOr(o.RootTTL, DefaultRootTTL, "root")
	if err != nil {
		return nil, err
	}
	intTTL, err := ttlOr(o.IntermediateTTL, DefaultIntermediateTTL, "intermediate")
	if err != nil {
		return nil, err
	}
	now := clock(o.Now)()
	if err := prepareDir(dir, o.Force); err != nil {
		return nil, err
	}
	root, rootKey, err := newRoot(trustDomain, p, now, rootTTL)
	if err != nil {
		return nil, err
	}
	inter, intKey, err := newIntermediate(trustDomain, p, root, rootKey, now, intTTL)
	if err != nil {
		return nil, err
	}
	st := State{
		Version: stateVersion, TrustDomain: trustDomain, Profile: p, Serials: "random-128",
		Root: Info(root), Intermediate: Info(inter), Created: now.UTC(),
	}
	if err := write(dir, st, []*x509.Certificate{root}, root, rootKey, inter, intKey); err != nil {
		return nil, err
	}
	return load(dir, o.Now)
}

func ttlOr(d, def time.Duration, what string) (time.Duration, error) {
	switch {
	case d == 0:
		return def, nil
	case d < 0:
		return 0, fmt.Errorf("the %s lifetime %s is negative", what, d)
	}
	return d, nil
}

func clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// prepareDir makes dir a directory of mode 0700 that holds no CA (unless
// force).
func prepareDir(dir string, force bool) error {
	if dir == "" {
		return errors.New("no CA directory given")
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	default:
		if !force {
			for _, f := range caFiles {
				_, err := os.Lstat(filepath.Join(dir, f))
				if err == nil {
					return fmt.Errorf("%w in %s (found %s)", ErrExists, dir, f)
				}
				if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
	}
	// The keys' directory is the owner's alone, even when it existed.
	return os.Chmod(dir, 0o700)
}

// write writes a CA's files: the bundle first (so that a new root is
// trusted before anything it signed is used), the keys, the
// certificates, ca.json last.
func write(dir string, st State, bundle []*x509.Certificate, root *x509.Certificate, rootKey crypto.Signer, inter *x509.Certificate, intKey crypto.Signer) error {
	rk, err := keyPEM(rootKey)
	if err != nil {
		return err
	}
	ik, err := keyPEM(intKey)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{BundleFile, certsPEM(bundle), 0o644},
		{RootKeyFile, rk, 0o600},
		{RootCertFile, certsPEM([]*x509.Certificate{root}), 0o644},
		{IntermediateKeyFile, ik, 0o600},
		{IntermediateCertFile, certsPEM([]*x509.Certificate{inter}), 0o644},
		{StateFile, append(js, '\n'), 0o644},
	}
	for _, f := range files {
		if err := WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes data to path with mode, atomically: a temporary file
// in the same directory, created with mode 0600, synced, chmod-ed, then
// renamed over path. A reader sees the old file or the new one, and a
// key is never readable by others, not even while written.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // not the temporary name
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Load loads the CA in dir. root.key may be absent (a root kept
// offline): the CA then issues SVIDs but cannot Rotate.
func Load(dir string) (*CA, error) { return load(dir, nil) }

func load(dir string, now func() time.Time) (*CA, error) {
	if dir == "" {
		return nil, errors.New("no CA directory given")
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: the directory does not exist", ErrNoCA, dir)
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	js, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: %s is missing", ErrNoCA, dir, StateFile)
	}
	if err != nil {
		return nil, err
	}
	ca := &CA{dir: dir, now: clock(now)}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ca.State); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	st := &ca.State
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%s: version %d, want %d", filepath.Join(dir, StateFile), st.Version, stateVersion)
	}
	if err := ValidateTrustDomain(st.TrustDomain); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	if ca.Profile, err = ParseProfile(string(st.Profile)); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	ca.TrustDomain = st.TrustDomain
	if ca.Root, err = readCert(dir, RootCertFile); err != nil {
		return nil, err
	}
	if ca.Intermediate, err = readCert(dir, IntermediateCertFile); err != nil {
		return nil, err
	}
	if ca.Bundle, err = LoadBundle(filepath.Join(dir, BundleFile)); err != nil {
		return nil, err
	}
	if ca.intKey, err = readKey(dir, IntermediateKeyFile, ca.Intermediate); err != nil {
		return nil, err
	}
	ca.rootKey, err = readKey(dir, RootKeyFile, ca.Root)
	if errors.Is(err, fs.ErrNotExist) {
		ca.rootKey, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ca, ca.check()
}

// check: the files of the directory make one CA.
func (ca *CA) check() error {
	f := func(name string) string { return filepath.Join(ca.dir, name) }
	if err := ca.Root.CheckSignatureFrom(ca.Root); err != nil || !ca.Root.IsCA {
		return fmt.Errorf("%s is not a self-signed CA certificate", f(RootCertFile))
	}
	if err := ca.Intermediate.CheckSignatureFrom(ca.Root); err != nil || !ca.Intermediate.IsCA {
		return fmt.Errorf("%s is not a CA certificate signed by %s", f(IntermediateCertFile), f(RootCertFile))
	}
	uris, err := uriSANs(ca.Root)
	if err != nil || len(uris) != 1 || uris[0] != (ID{TrustDomain: ca.TrustDomain}).String() {
		return fmt.Errorf("%s is not the root of trust domain %q of %s", f(RootCertFile), ca.TrustDomain, f(StateFile))
	}
	if !bytes.Equal(ca.Bundle[0].Raw, ca.Root.Raw) {
		return fmt.Errorf("%s does not start with %s", f(BundleFile), f(RootCertFile))
	}
	return nil
}

func readCert(dir, name string) (*x509.Certificate, error) {
	path := filepath.Join(dir, name)
	certs, err := LoadBundle(path)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s: %d certificates, want 1", path, len(certs))
	}
	return certs[0], nil
}

// readKey reads a PKCS#8 key that must be the owner's alone and match
// cert.
func readKey(dir, name string, cert *x509.Certificate) (crypto.Signer, error) {
	path := filepath.Join(dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%s is accessible by others (mode %04o): chmod 600 it", path, m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PEM PRIVATE KEY (PKCS#8) block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not a signing key", path, k)
	}
	pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match the public key of its certificate", path)
	}
	return s, nil
}

// LoadBundle reads a PEM file of certificates, such as bundle.pem.
func LoadBundle(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificatesPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// ParseCertificatesPEM parses the CERTIFICATE blocks of b; any other
// block, or none at all, is an error.
func ParseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		return nil, errors.New("trailing data that is not PEM")
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs, nil
}

func certsPEM(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// RotateOptions are the options of Rotate. The zero value rotates the
// intermediate only.
type RotateOptions struct {
	// Root makes a new root as well. The old root stays in bundle.pem
	// until every SVID it can have signed has expired.
	Root bool
	// RootTTL and IntermediateTTL are the new certificates' lifetimes
	// (defaults as for Init).
	RootTTL, IntermediateTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Rotate replaces the intermediate of the CA in dir (and with o.Root the
// root) with new keys. SVIDs issued before keep verifying against the
// new bundle: an intermediate rotation keeps the root; a root rotation
// keeps the old root in bundle.pem (after the new one) until the old
// intermediate, and so every SVID under it, has expired. Roots past that
// point, or expired, leave the bundle at the next rotation. Roots added
// to bundle.pem by hand are kept until they expire.
func Rotate(dir string, o RotateOptions) (*CA, error) {
	ca, err := load(dir, o.Now)
	if err != nil {
		return nil, err
	}
	if ca.rootKey == nil {
		return nil, fmt.Errorf("%s is missing: rotation needs the root key", filepath.Join(dir, RootKeyFile))
	}
	rootTTL, err := ttlOr(o.RootTTL, DefaultRootTTL, "root")
	if err != nil {
		return nil, err
	}
	intTTL, err := ttlOr(o.IntermediateTTL, DefaultIntermediateTTL, "intermediate")
	if err != nil {
		return nil, err
	}
	now := ca.now()
	st := ca.State
	root, rootKey := ca.Root, ca.rootKey
	var bundle []*x509.Certificate
	var previous []PreviousRoot
	if o.Root {
		if root, rootKey, err = newRoot(ca.TrustDomain, ca.Profile, now, rootTTL); err != nil {
			return nil, err
		}
		bundle = append(bundle, root)
		// The old root is needed as long as SVIDs under the current
		// intermediate, capped at its NotAfter, live.
		if keep := minTime(ca.Intermediate.NotAfter, ca.Root.NotAfter); now.Before(keep) {
			previous = append(previous, PreviousRoot{CertInfo: Info(ca.Root), KeepUntil: keep.UTC()})
			bundle = append(bundle, ca.Root)
		}
	} else {
		bundle = append(bundle, root)
	}
	// Roots rotated out earlier, while still needed; roots added to
	// bundle.pem by hand, until they expire.
	for _, c := range ca.Bundle[1:] {
		if !now.Before(c.NotAfter) {
			continue
		}
		fp, known := Fingerprint(c), false
		for _, p := range st.PreviousRoots {
			if p.SHA256 == fp {
				known = true
				if now.Before(p.KeepUntil) {
					previous = append(previous, p)
					bundle = append(bundle, c)
				}
				break
			}
		}
		if !known {
			bundle = append(bundle, c)
		}
	}
	inter, intKey, err := newIntermediate(ca.TrustDomain, ca.Profile, root, rootKey, now, intTTL)
	if err != nil {
		return nil, err
	}
	st.Root, st.Intermediate, st.PreviousRoots, st.Rotated = Info(root), Info(inter), previous, now.UTC()
	if err := write(dir, st, bundle, root, rootKey, inter, intKey); err != nil {
		return nil, err
	}
	return load(dir, o.Now)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
