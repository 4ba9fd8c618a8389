package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// SVID is an X509-SVID and its key.
type SVID struct {
	// ID is the SPIFFE ID, the certificate's one URI SAN.
	ID ID
	// Cert is the leaf certificate.
	Cert *x509.Certificate
	// Chain is Cert, then the intermediate that signed it: what a TLS
	// peer presents. The root is not in it; peers have it in the bundle.
	Chain []*x509.Certificate
	// Key is the leaf's private key.
	Key crypto.Signer
}

// IssueSVID issues an X509-SVID for spiffeID, a workload ID of the CA's
// trust domain (ErrOtherTrustDomain otherwise). key is the leaf's key,
// checked by CheckKey; nil makes one of the CA's profile. ttl is the
// lifetime (0: DefaultSVIDTTL), cut short at the intermediate's NotAfter.
//
// The certificate (see docs/pki.md for the X509-SVID sections behind
// each field): a random 128-bit serial; an empty subject, so the URI SAN
// is critical; exactly one URI SAN, the ID; CA false; key usage
// digitalSignature (and keyEncipherment for RSA keys); extended key
// usage serverAuth and clientAuth; NotBefore one minute in the past.
func (ca *CA) IssueSVID(spiffeID string, key crypto.Signer, ttl time.Duration) (*SVID, error) {
	id, err := ParseSPIFFEID(spiffeID)
	if err != nil {
		return nil, err
	}
	if id.TrustDomain != ca.TrustDomain {
		return nil, wrap(ErrOtherTrustDomain, "%s is of trust domain %q, not the CA's %q", id, id.TrustDomain, ca.TrustDomain)
	}
	if !id.IsWorkload() {
		return nil, fmt.Errorf("%s names the trust domain, not a workload: give a path, e.g. %s/ns/default/sa/web", id, id)
	}
	switch {
	case ttl == 0:
		ttl = DefaultSVIDTTL
	case ttl < 0:
		return nil, fmt.Errorf("the SVID lifetime %s is negative", ttl)
	}
	now := ca.now()
	inter := ca.Intermediate
	if !now.Before(inter.NotAfter) {
		return nil, fmt.Errorf("the intermediate CA expired at %s: rotate it (vigil ca rotate)", inter.NotAfter.UTC().Format(time.RFC3339))
	}
	if key == nil {
		if key, err = NewKey(ca.Profile); err != nil {
			return nil, err
		}
	} else if err := CheckKey(key.Public()); err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-Backdate)
	if notBefore.Before(inter.NotBefore) {
		notBefore = inter.NotBefore
	}
	notAfter := now.Add(ttl)
	if notAfter.After(inter.NotAfter) {
		notAfter = inter.NotAfter
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:                  []*url.URL{id.URL()},
		SubjectKeyId:          keyID(key.Public()),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, key.Public(), ca.intKey)
	if err != nil {
		return nil, fmt.Errorf("issuing %s: %w", id, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	// What was written is what a peer will read.
	if got, err := IDFromCert(cert); err != nil || got != id {
		return nil, fmt.Errorf("issuing %s: the certificate reads back as %v (%v)", id, got, err)
	}
	return &SVID{ID: id, Cert: cert, Chain: []*x509.Certificate{cert, inter}, Key: key}, nil
}

// CertPEM is the chain in PEM: the leaf, then the intermediate.
func (s *SVID) CertPEM() []byte { return certsPEM(s.Chain) }

// KeyPEM is the key in PKCS#8 PEM.
func (s *SVID) KeyPEM() ([]byte, error) { return keyPEM(s.Key) }

// WriteFiles writes PREFIX.crt (CertPEM, mode 0644) and PREFIX.key
// (KeyPEM, mode 0600), each atomically.
func (s *SVID) WriteFiles(prefix string) error {
	k, err := s.KeyPEM()
	if err != nil {
		return err
	}
	if err := WriteFile(prefix+".key", k, 0o600); err != nil {
		return err
	}
	return WriteFile(prefix+".crt", s.CertPEM(), 0o644)
}

// TLSCertificate is the SVID for tls.Config.Certificates.
func (s *SVID) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: s.Key, Leaf: s.Cert}
	for _, x := range s.Chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// Pool is a certificate pool of the bundle's roots, for
// tls.Config.RootCAs and ClientCAs.
func Pool(bundle []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range bundle {
		p.AddCert(c)
	}
	return p
}

// Verify verifies an X509-SVID chain (the leaf, then intermediates, as a
// TLS peer presents it) against the roots of bundle, now, and returns
// its SPIFFE ID: RFC 5280 path validation (X509-SVID 5.1), the leaf
// checks of IDFromCert (5.2), serverAuth and clientAuth if the leaf has
// an extended key usage (4.4), and, when the root that anchors the chain
// carries a SPIFFE ID, the same trust domain as the leaf's.
func Verify(bundle, chain []*x509.Certificate) (ID, error) {
	return verifyAt(bundle, chain, time.Now())
}

func verifyAt(bundle, chain []*x509.Certificate, now time.Time) (ID, error) {
	if len(bundle) == 0 {
		return ID{}, errors.New("the trust bundle is empty")
	}
	if len(chain) == 0 || chain[0] == nil {
		return ID{}, errors.New("no certificate")
	}
	leaf := chain[0]
	id, err := IDFromCert(leaf)
	if err != nil {
		return ID{}, err
	}
	if len(leaf.ExtKeyUsage) > 0 && !(slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth)) {
		return ID{}, errors.New("the leaf's extended key usage lacks serverAuth or clientAuth")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: Pool(bundle), Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return ID{}, fmt.Errorf("%s: %w", id, err)
	}
	for _, c := range chains {
		uris, err := uriSANs(c[len(c)-1])
		if err != nil {
			continue
		}
		if len(uris) == 0 {
			return id, nil
		}
		if r, err := ParseSPIFFEID(uris[0]); err == nil && len(uris) == 1 && r.TrustDomain == id.TrustDomain {
			return id, nil
		}
	}
	return ID{}, wrap(ErrOtherTrustDomain, "%s chains to a root of another trust domain", id)
}

// wrapped is an error whose message is its own but that Is err.
type wrapped struct {
	err error
	msg string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

func wrap(err error, format string, a ...any) error {
	return &wrapped{err: err, msg: fmt.Sprintf(format, a...)}
}
