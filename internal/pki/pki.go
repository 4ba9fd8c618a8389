// Package pki is Vigil's certificate authority: a root CA and an
// intermediate CA per SPIFFE trust domain, kept as files in one
// directory, issuing X509-SVIDs (workload certificates whose one URI SAN
// is the workload's SPIFFE ID) for mTLS between Vigil and workloads.
//
// The directory (see docs/pki.md):
//
//	root.crt, root.key                  the root CA (self-signed, 10 years)
//	intermediate.crt, intermediate.key  the issuing CA (1 year, pathlen 0)
//	bundle.pem                          the trust bundle: the current root and
//	                                    the roots rotated out but still needed
//	ca.json                             trust domain, profile, serials, history
//
// Keys are PKCS#8 PEM, mode 0600, in a directory of mode 0700.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// Profile names the key algorithm of a CA and of the SVIDs it makes keys
// for.
type Profile string

// The profiles.
const (
	ECDSAP256 Profile = "ecdsa-p256" // the default
	Ed25519   Profile = "ed25519"
	RSA3072   Profile = "rsa-3072"
)

// Profiles are the profiles, default first.
var Profiles = []Profile{ECDSAP256, Ed25519, RSA3072}

// ParseProfile checks a profile name; "" is the default.
func ParseProfile(s string) (Profile, error) {
	if s == "" {
		return ECDSAP256, nil
	}
	for _, p := range Profiles {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown key profile %q (want ecdsa-p256, ed25519 or rsa-3072)", s)
}

// NewKey generates a key of profile p.
func NewKey(p Profile) (crypto.Signer, error) {
	switch p {
	case ECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("unknown key profile %q", p)
}

// CheckKey is the key-type policy for keys Vigil is given rather than
// makes: ECDSA on P-256 or P-384, Ed25519, or RSA of at least 2048 bits.
func CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA key on curve %s refused: only P-256 and P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("malformed Ed25519 key")
		}
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 {
			return fmt.Errorf("RSA key of %d bits refused: at least 2048", n)
		}
	default:
		return fmt.Errorf("key type %T refused: only ECDSA P-256/P-384, Ed25519 and RSA >= 2048 bits", pub)
	}
	return nil
}

// Default lifetimes.
const (
	DefaultRootTTL         = 10 * 365 * 24 * time.Hour
	DefaultIntermediateTTL = 365 * 24 * time.Hour
	DefaultSVIDTTL         = 24 * time.Hour
	// Backdate is how far NotBefore is set in the past, for clocks a
	// little behind.
	Backdate = time.Minute
)

// CA is a loaded certificate authority. Its methods are safe for
// concurrent use; it does not change once loaded (Rotate writes a new
// one).
type CA struct {
	// TrustDomain is the SPIFFE trust domain the CA issues IDs of.
	TrustDomain string
	// Profile is the key algorithm of the CA and of keys IssueSVID makes.
	Profile Profile
	// Root is the current root CA certificate.
	Root *x509.Certificate
	// Intermediate is the issuing CA certificate, signed by Root.
	Intermediate *x509.Certificate
	// Bundle are the roots an SVID of this trust domain may chain to:
	// Root first, then previous roots kept for the rotation overlap.
	Bundle []*x509.Certificate
	// State is ca.json.
	State State

	dir     string
	rootKey crypto.Signer // nil when root.key is kept offline
	intKey  crypto.Signer
	now     func() time.Time
}

// Dir is the directory the CA was loaded from.
func (ca *CA) Dir() string { return ca.dir }

// IntermediateSigner is the issuing CA's key, loaded and checked by Load
// (PKCS#8, the owner's alone, matching Intermediate), for issuers of
// other leaves than SVIDs (the egress listener's minted server leaves).
func (ca *CA) IntermediateSigner() crypto.Signer { return ca.intKey }

// newSerial is a random positive 128-bit serial number (CA/B Forum
// baseline requirements ask for at least 64 bits of randomness).
func newSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// caTemplate is the template of a root or intermediate.
func caTemplate(td, role string, notBefore, notAfter time.Time, pathLen int) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	id := ID{TrustDomain: td}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"Vigil"},
			CommonName:   td + " " + role,
			// Tells apart the roots of two generations in a bundle.
			SerialNumber: strings.ToUpper(serial.Text(16)),
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            pathLen,
		MaxPathLenZero:        pathLen == 0,
		// X509-SVID 4.3: signing certificates set keyCertSign, may set
		// cRLSign, and (appendix A) digitalSignature only on leaves.
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		// X509-SVID 3.2: a signing certificate SHOULD be an SVID whose
		// ID has no path.
		URIs: []*url.URL{id.URL()},
	}, nil
}

// newRoot makes a self-signed root.
func newRoot(td string, p Profile, now time.Time, ttl time.Duration) (*x509.Certificate, crypto.Signer, error) {
	key, err := NewKey(p)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := caTemplate(td, "root CA", now.Add(-Backdate), now.Add(ttl), 1)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SubjectKeyId = keyID(key.Public())
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// newIntermediate makes an intermediate signed by root, never valid
// beyond it.
func newIntermediate(td string, p Profile, root *x509.Certificate, rootKey crypto.Signer, now time.Time, ttl time.Duration) (*x509.Certificate, crypto.Signer, error) {
	if !now.Before(root.NotAfter) {
		return nil, nil, fmt.Errorf("the root expired at %s: rotate the root too", root.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := NewKey(p)
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(ttl)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	tmpl, err := caTemplate(td, "intermediate CA", now.Add(-Backdate), notAfter, 0)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SubjectKeyId = keyID(key.Public())
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("intermediate certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// keyID is a subject key identifier: the first 160 bits of the SHA-256
// of the public key (RFC 7093, method 1).
func keyID(pub crypto.PublicKey) []byte {
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	h := sha256.Sum256(b)
	return h[:20]
}

// Fingerprint is the SHA-256 of a certificate's DER, as openssl x509
// -fingerprint -sha256 prints it (AB:CD:...).
func Fingerprint(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range h {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// Serial is a certificate's serial number in hex, as openssl prints it.
func Serial(cert *x509.Certificate) string {
	return strings.ToUpper(cert.SerialNumber.Text(16))
}
