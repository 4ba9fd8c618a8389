package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/authz"
)

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func TestFromRequest(t *testing.T) {
	k := keys()
	v := fileVerifier(t, func(o *Options) {
		o.APIKeys = []APIKey{
			{Name: "partner", Hash: sha256Hex("s3cret-partner-key"), Subject: "partner-co", Scopes: []string{"orders:read"}, Roles: []string{"partner"}},
			{Name: "ops", Header: "X-Ops-Key", Hash: "sha256:" + strings.ToUpper(sha256Hex("ops-key")[7:])},
		}
	})
	good := tok(k.ec1, issMain, nil)
	cases := []struct {
		name    string
		headers map[string][]string
		want    error  // nil: no error
		sub     string // "": no principal
		source  string
	}{
		{"no credential", nil, nil, "", ""},
		{"Bearer", map[string][]string{"Authorization": {"Bearer " + good}}, nil, "alice", authz.SourceJWT},
		{"bearer lower case", map[string][]string{"Authorization": {"bearer " + good}}, nil, "alice", authz.SourceJWT},
		{"BEARER, extra spaces", map[string][]string{"Authorization": {"BEARER   " + good + " "}}, nil, "alice", authz.SourceJWT},
		{"Basic is left to the upstream", map[string][]string{"Authorization": {"Basic YWxpY2U6cHc="}}, nil, "", ""},
		{"Bearerx is another scheme", map[string][]string{"Authorization": {"Bearerx " + good}}, nil, "", ""},
		{"empty Bearer", map[string][]string{"Authorization": {"Bearer "}}, ErrMalformed, "", ""},
		{"bad Bearer", map[string][]string{"Authorization": {"Bearer " + good + "x"}}, ErrMalformed, "", ""},
		{"two Authorization headers", map[string][]string{"Authorization": {"Bearer " + good, "Bearer " + good}}, ErrMalformed, "", ""},
		{"API key", map[string][]string{"X-Api-Key": {"s3cret-partner-key"}}, nil, "partner-co", authz.SourceAPIKey},
		{"API key in its own header, upper-case hash", map[string][]string{"X-Ops-Key": {"ops-key"}}, nil, "ops", authz.SourceAPIKey},
		{"API key in another key's header", map[string][]string{"X-Ops-Key": {"s3cret-partner-key"}}, ErrAPIKey, "", ""},
		{"unknown API key", map[string][]string{"X-Api-Key": {"guess"}}, ErrAPIKey, "", ""},
		{"two API keys", map[string][]string{"X-Api-Key": {"s3cret-partner-key", "guess"}}, ErrMalformed, "", ""},
		{"Bearer wins over an API key", map[string][]string{"Authorization": {"Bearer " + good}, "X-Api-Key": {"guess"}}, nil, "alice", authz.SourceJWT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for k, vs := range c.headers {
				r.Header[k] = vs
			}
			p, err := v.FromRequest(context.Background(), r)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if c.sub == "" {
				if p != nil {
					t.Fatalf("principal %+v, want none", p)
				}
				return
			}
			if p == nil || p.Subject != c.sub || p.Source != c.source {
				t.Fatalf("principal %+v, want %s from %s", p, c.sub, c.source)
			}
		})
	}

	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", "s3cret-partner-key")
	p, err := v.FromRequest(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer != "partner" || !slices.Equal(p.Scopes, []string{"orders:read"}) || !slices.Equal(p.Roles, []string{"partner"}) ||
		p.TokenID != TokenID("s3cret-partner-key") || p.Claims["sub"] != "partner-co" || p.Claims["scope"] != "orders:read" {
		t.Errorf("API key principal %+v", p)
	}
	r.Header.Set("X-API-Key", "wrong")
	_, err = v.FromRequest(context.Background(), r)
	if err == nil || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), TokenID("wrong")) {
		t.Errorf("refused API key error %q: must carry the key's hash, not the key", err)
	}
}

func TestAPIKeyConfigErrors(t *testing.T) {
	for _, k := range []APIKey{
		{Hash: sha256Hex("x")},
		{Name: "a", Hash: "md5:abc"},
		{Name: "a", Hash: "sha256:abcd"},
		{Name: "a", Hash: sha256Hex("x"), Header: "authorization"},
	} {
		if _, err := New(context.Background(), Options{APIKeys: []APIKey{k}}); err == nil {
			t.Errorf("%+v accepted", k)
		}
	}
	dup := sha256Hex("x")
	if _, err := New(context.Background(), Options{APIKeys: []APIKey{{Name: "a", Hash: dup}, {Name: "b", Hash: dup}}}); err == nil {
		t.Error("duplicate hashes accepted")
	}
}

// pki is a CA and a way to issue client certificates with URI SANs.
type pki struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	pool  *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{ca: ca, caKey: key, pool: pool}
}

func (p *pki) client(t *testing.T, uris ...string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMTLS runs real TLS handshakes with client certificates on loopback.
func TestMTLS(t *testing.T) {
	ca := newPKI(t)
	v, err := New(context.Background(), Options{TrustDomains: []string{"demo.local"}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := v.FromRequest(r.Context(), r)
		switch {
		case err != nil:
			fmt.Fprintf(w, "error %v", errors.Is(err, ErrPeer))
		case p == nil:
			fmt.Fprint(w, "none")
		default:
			fmt.Fprintf(w, "%s %s %s", p.Source, p.Issuer, p.Subject)
		}
	}))
	srv.TLS = &tls.Config{ClientCAs: ca.pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()

	cases := []struct {
		name string
		uris []string // nil: no client certificate
		want string
	}{
		{"SPIFFE ID of an accepted trust domain", []string{"spiffe://demo.local/ns/shop/sa/web"}, "mtls demo.local spiffe://demo.local/ns/shop/sa/web"},
		// X509-SVID §5.2: exactly one URI SAN, else not an SVID at all.
		{"several URI SANs", []string{"https://example.test/x", "spiffe://other.test/a", "spiffe://demo.local/b"}, "error true"},
		{"untrusted trust domain", []string{"spiffe://evil.test/ns/shop/sa/web"}, "error true"},
		{"certificate without SPIFFE ID", []string{"https://example.test/x"}, "none"},
		{"no certificate", nil, "none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: x509.NewCertPool()}
			cfg.RootCAs.AddCert(srv.Certificate())
			if c.uris != nil {
				cfg.Certificates = []tls.Certificate{ca.client(t, c.uris...)}
			}
			cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := cl.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != c.want {
				t.Fatalf("got %q, want %q", b, c.want)
			}
		})
	}

	// A certificate presented but not verified by the TLS server is no
	// identity.
	other := newPKI(t)
	cert := other.client(t, "spiffe://demo.local/forged")
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
	if p, err := v.FromRequest(context.Background(), r); p != nil || err != nil {
		t.Fatalf("unverified certificate: %+v %v", p, err)
	}
}
