// Package tlsconf builds Vigil's TLS configurations from its settings:
// the crypto profiles (modern, compatible), certificate sources that
// renew without dropping connections (files reloaded when they change, or
// an X509-SVID issued from the Vigil CA and renewed at half-life), trust
// bundles reloaded on change (CA rotation with overlapping bundles), and
// SPIFFE verification of a peer by its ID rather than its host name.
// Listeners (Server) and upstream clients (Client) share it. See
// docs/sidecar.md.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pki"
)

// certSource gives a TLS endpoint its current certificate: handshakes ask
// for it each time, so a renewed certificate is used from the next
// handshake on and open connections are never dropped.
type certSource interface {
	Certificate() (*tls.Certificate, error)
}

// recheck is how often certificate and bundle files are looked at again.
const recheck = time.Second

// fileCert serves a certificate and key from files, reloaded when either
// changes (an SVID rewritten by `vigil ca issue`, cert-manager, SPIRE's
// helper). A file that does not load keeps the previous certificate.
type fileCert struct {
	cert, key string
	log       *slog.Logger
	mu        sync.Mutex
	cur       *tls.Certificate
	stamp     string
	checked   time.Time
}

func newFileCert(cert, key string, log *slog.Logger) (*fileCert, error) {
	f := &fileCert{cert: cert, key: key, log: log}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func stampOf(files ...string) string {
	s := ""
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%d.%d;", fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s
}

func (f *fileCert) load() error {
	stamp := stampOf(f.cert, f.key)
	c, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return err
	}
	f.cur, f.stamp, f.checked = &c, stamp, time.Now()
	return nil
}

// Certificate implements certSource.
func (f *fileCert) Certificate() (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checked) >= recheck {
		f.checked = time.Now()
		if stampOf(f.cert, f.key) != f.stamp {
			if err := f.load(); err != nil {
				f.log.Warn("certificate not reloaded; serving the previous one", "cert", f.cert, "err", err)
			} else {
				f.log.Info("certificate reloaded", "cert", f.cert)
			}
		}
	}
	return f.cur, nil
}

// svidCert issues this workload's X509-SVID from the Vigil CA and renews
// it at half its lifetime, on the handshake that finds it due.
type svidCert struct {
	ca      *pki.CA
	id      string
	ttl     time.Duration
	log     *slog.Logger
	mu      sync.Mutex
	cur     *tls.Certificate
	renewAt time.Time
}

func newSVIDCert(s *config.SVID, log *slog.Logger) (*svidCert, error) {
	ca, err := pki.Load(s.CADir)
	if err != nil {
		return nil, err
	}
	c := &svidCert{ca: ca, id: s.SPIFFEID, ttl: s.TTL, log: log}
	if err := c.issue(time.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *svidCert) issue(now time.Time) error {
	sv, err := c.ca.IssueSVID(c.id, nil, c.ttl)
	if err != nil {
		return err
	}
	tc := &tls.Certificate{PrivateKey: sv.Key, Leaf: sv.Cert}
	for _, x := range sv.Chain {
		tc.Certificate = append(tc.Certificate, x.Raw)
	}
	c.cur = tc
	c.renewAt = now.Add(sv.Cert.NotAfter.Sub(now) / 2)
	return nil
}

// Certificate implements certSource.
func (c *svidCert) Certificate() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); !now.Before(c.renewAt) {
		if err := c.issue(now); err != nil {
			// The current one is still valid until its NotAfter.
			c.log.Error("SVID not renewed", "spiffe_id", c.id, "err", err)
			c.renewAt = now.Add(recheck)
		}
	}
	return c.cur, nil
}

// certFor picks the source a TLS endpoint configures: its svid, else its
// cert and key files.
func certFor(svid *config.SVID, cert, key string, log *slog.Logger) (certSource, error) {
	if svid != nil && svid.CADir != "" {
		return newSVIDCert(svid, log)
	}
	return newFileCert(cert, key, log)
}

// bundle is a trust bundle file (PEM roots), reloaded when it changes so
// that CA rotation with overlapping bundles needs no restart.
type bundle struct {
	file    string
	log     *slog.Logger
	mu      sync.Mutex
	pool    atomic.Pointer[x509.CertPool]
	stamp   string
	checked time.Time
}

func newBundle(file string, log *slog.Logger) (*bundle, error) {
	b := &bundle{file: file, log: log}
	if err := b.load(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bundle) load() error {
	stamp := stampOf(b.file)
	certs, err := pki.LoadBundle(b.file)
	if err != nil {
		return err
	}
	if len(certs) == 0 {
		return fmt.Errorf("%s: no certificates", b.file)
	}
	b.pool.Store(pki.Pool(certs))
	b.stamp, b.checked = stamp, time.Now()
	return nil
}

// Pool returns the current roots.
func (b *bundle) Pool() *x509.CertPool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.checked) >= recheck {
		b.checked = time.Now()
		if stampOf(b.file) != b.stamp {
			if err := b.load(); err != nil {
				b.log.Warn("trust bundle not reloaded; keeping the previous one", "file", b.file, "err", err)
			}
		}
	}
	return b.pool.Load()
}

// Crypto profiles (listen.https.profile, routes[].upstream_tls.profile).
const (
	// ProfileModern is TLS 1.3 only, X25519MLKEM768 (hybrid post-quantum)
	// preferred.
	ProfileModern = "modern"
	// ProfileCompatible is TLS 1.2 and 1.3, AEAD suites only, the hybrid
	// group first too (the default).
	ProfileCompatible = "compatible"
)

// Profile is the base tls.Config of a profile ("" is compatible).
func Profile(profile string) *tls.Config {
	c := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
	if profile == ProfileModern {
		c.MinVersion, c.CipherSuites = tls.VersionTLS13, nil
		c.CurvePreferences = []tls.CurveID{tls.X25519MLKEM768, tls.X25519}
	}
	return c
}

// Server is the TLS config of an https listener: its profile, its
// certificate source and, with client_ca, client certificates verified
// against the (reloaded) bundle.
func Server(h *config.HTTPS, log *slog.Logger) (*tls.Config, error) {
	certs, err := certFor(h.SVID, h.Cert, h.Key, log)
	if err != nil {
		return nil, fmt.Errorf("listen.https: %w", err)
	}
	base := Profile(h.Profile)
	base.NextProtos = []string{"h2", "http/1.1"}
	base.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return certs.Certificate() }
	ca := h.ClientCA
	if ca == "" && h.SVID != nil && h.SVID.CADir != "" {
		ca = h.SVID.CADir + "/bundle.pem"
	}
	if ca == "" || h.ClientAuth == "none" {
		return base, nil
	}
	b, err := newBundle(ca, log)
	if err != nil {
		return nil, fmt.Errorf("listen.https.client_ca: %w", err)
	}
	base.ClientAuth = tls.RequireAndVerifyClientCert
	if h.ClientAuth == "optional" {
		base.ClientAuth = tls.VerifyClientCertIfGiven
	}
	// A config per bundle version, built once: handshakes share it.
	var cur atomic.Pointer[struct {
		pool *x509.CertPool
		cfg  *tls.Config
	}]
	outer := base.Clone()
	outer.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool := b.Pool()
		if c := cur.Load(); c != nil && c.pool == pool {
			return c.cfg, nil
		}
		c := base.Clone()
		c.ClientCAs = pool
		cur.Store(&struct {
			pool *x509.CertPool
			cfg  *tls.Config
		}{pool, c})
		return c, nil
	}
	return outer, nil
}

// Client is the TLS config for calling an https upstream: its profile,
// the roots (upstream_tls.ca, else the route's upstream_ca, else the svid
// CA's bundle, else the system roots), a client certificate when one is
// configured, and with spiffe_id the upstream verified by its SPIFFE ID.
func Client(u *config.UpstreamTLS, upstreamCA, serverName string, log *slog.Logger) (*tls.Config, error) {
	c := Profile(u.Profile)
	c.ServerName = serverName
	ca := u.CA
	if ca == "" {
		ca = upstreamCA
	}
	if ca == "" && u.SVID != nil && u.SVID.CADir != "" {
		ca = u.SVID.CADir + "/bundle.pem"
	}
	var b *bundle
	if ca != "" {
		var err error
		if b, err = newBundle(ca, log); err != nil {
			return nil, fmt.Errorf("upstream_tls.ca: %w", err)
		}
		c.RootCAs = b.Pool()
	}
	if u.SVID != nil || u.Cert != "" {
		certs, err := certFor(u.SVID, u.Cert, u.Key, log)
		if err != nil {
			return nil, fmt.Errorf("upstream_tls: %w", err)
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certs.Certificate() }
	}
	if u.SPIFFEID != "" {
		if b == nil {
			return nil, fmt.Errorf("upstream_tls.spiffe_id needs a trust bundle (upstream_tls.ca or svid)")
		}
		want := u.SPIFFEID
		// The standard verification checks host names; SPIFFE peers are
		// verified here instead: the chain against the (reloaded) bundle,
		// then the one URI SAN against the wanted ID. Nothing is skipped.
		c.InsecureSkipVerify = true //nolint:gosec // replaced by VerifyConnection below
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifySPIFFE(cs.PeerCertificates, b.Pool(), want)
		}
	}
	return c, nil
}

// verifySPIFFE verifies a server's X509-SVID chain against roots and its
// SPIFFE ID against want (exact, or a pattern ending in /*).
func verifySPIFFE(chain []*x509.Certificate, roots *x509.CertPool, want string) error {
	if len(chain) == 0 {
		return fmt.Errorf("the upstream presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("the upstream's certificate does not chain to the trust bundle: %w", err)
	}
	id, err := pki.IDFromCert(chain[0])
	if err != nil {
		return fmt.Errorf("the upstream's certificate is not an X509-SVID: %w", err)
	}
	got := id.String()
	if base, ok := strings.CutSuffix(want, "*"); ok {
		if strings.HasPrefix(got, base) {
			return nil
		}
	} else if got == want {
		return nil
	}
	return fmt.Errorf("the upstream is %s, not %s", got, want)
}

// Expiry reports when the certificate c currently serves expires, and
// how long it was issued for (from a config made by Server).
func Expiry(c *tls.Config) (notAfter time.Time, lifetime time.Duration, ok bool) {
	if c == nil || c.GetCertificate == nil {
		return time.Time{}, 0, false
	}
	cert, err := c.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || cert == nil {
		return time.Time{}, 0, false
	}
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return time.Time{}, 0, false
		}
	}
	if leaf == nil {
		return time.Time{}, 0, false
	}
	return leaf.NotAfter, leaf.NotAfter.Sub(leaf.NotBefore), true
}

// ExpiresSoon says whether a certificate should be renewed by a person:
// less than a quarter of its lifetime left, at most 7 days and at least
// an hour. An SVID renewed at half-life never is, unless renewal fails.
func ExpiresSoon(notAfter time.Time, lifetime time.Duration, now time.Time) bool {
	warn := min(7*24*time.Hour, lifetime/4)
	warn = max(warn, time.Hour)
	return notAfter.Sub(now) < warn
}
