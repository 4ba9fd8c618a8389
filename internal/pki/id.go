package pki

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Limits of the SPIFFE-ID spec, section 2.3.
const (
	// MaxIDLength is the longest SPIFFE ID accepted, in bytes.
	MaxIDLength = 2048
	// MaxTrustDomainLength is the longest trust domain name, in bytes
	// (the host limit of RFC 3986).
	MaxTrustDomainLength = 255
)

const scheme = "spiffe://"

// ID is a SPIFFE ID: spiffe://TrustDomain/Path. The zero ID is not
// valid; IDs come from ParseSPIFFEID or IDFromCert.
type ID struct {
	// TrustDomain is the authority, e.g. "prod.example.com".
	TrustDomain string
	// Path is empty (the ID of the trust domain itself) or starts with
	// "/", e.g. "/ns/shop/sa/web".
	Path string
}

// String is the ID in its canonical form, spiffe://trust-domain/path.
func (id ID) String() string { return scheme + id.TrustDomain + id.Path }

// URL is the ID as a URL, for the URIs of a certificate template.
func (id ID) URL() *url.URL {
	return &url.URL{Scheme: "spiffe", Host: id.TrustDomain, Path: id.Path}
}

// IsWorkload reports whether the ID names a workload, i.e. has a path:
// only those may be the ID of a leaf SVID (X509-SVID section 3.1).
func (id ID) IsWorkload() bool { return id.Path != "" }

// IDError is a string that is not a SPIFFE ID, or not a trust domain, and
// why.
type IDError struct {
	// Input is the string refused (clipped when very long).
	Input string
	// What is "SPIFFE ID" or "SPIFFE trust domain".
	What string
	// Reason says which rule it breaks.
	Reason string
}

func (e *IDError) Error() string {
	return fmt.Sprintf("%q is not a %s: %s", e.Input, e.What, e.Reason)
}

func idError(in, what, reason string) error {
	if len(in) > 80 {
		in = in[:60] + "..." + in[len(in)-12:]
	}
	return &IDError{Input: in, What: what, Reason: reason}
}

// ParseSPIFFEID parses s as a SPIFFE ID, by the rules of the SPIFFE-ID
// spec (section 2): the scheme spiffe, a trust domain of lower-case
// letters, digits, '.', '-' and '_' without userinfo or port, and a path
// of non-empty segments of letters, digits, '.', '-' and '_' that are not
// "." or "..", without trailing slash, percent-encoding, query or
// fragment; at most 2048 bytes in all. It is strict: the scheme and the
// trust domain must be in lower case (the canonical form), so that two
// valid IDs are the same exactly when their strings are. A trust domain
// alone (spiffe://example.org) is a valid ID; IsWorkload tells it apart.
func ParseSPIFFEID(s string) (ID, error) {
	const what = "SPIFFE ID"
	if s == "" {
		return ID{}, idError(s, what, "it is empty")
	}
	if len(s) > MaxIDLength {
		return ID{}, idError(s, what, fmt.Sprintf("it is longer than %d bytes", MaxIDLength))
	}
	if !strings.HasPrefix(s, scheme) {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return ID{}, idError(s, what, "the scheme must be spiffe, in lower case")
		}
		return ID{}, idError(s, what, "it must start with spiffe://")
	}
	rest := s[len(scheme):]
	td, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		td, path = rest[:i], rest[i:]
	}
	if reason := trustDomainProblem(td); reason != "" {
		return ID{}, idError(s, what, reason)
	}
	if reason := pathProblem(path); reason != "" {
		return ID{}, idError(s, what, reason)
	}
	return ID{TrustDomain: td, Path: path}, nil
}

// ValidateTrustDomain checks a trust domain name by the SPIFFE-ID spec,
// section 2.1: not empty, at most 255 bytes, only lower-case letters,
// digits, '.', '-' and '_'; so no scheme, userinfo, port or path.
func ValidateTrustDomain(td string) error {
	if reason := trustDomainProblem(td); reason != "" {
		if strings.Contains(td, "://") {
			reason = "give the trust domain alone, without a scheme (example.org, not spiffe://example.org)"
		}
		return idError(td, "SPIFFE trust domain", reason)
	}
	return nil
}

func trustDomainProblem(td string) string {
	switch {
	case td == "":
		return "the trust domain is missing"
	case len(td) > MaxTrustDomainLength:
		return fmt.Sprintf("the trust domain is longer than %d bytes", MaxTrustDomainLength)
	case strings.Contains(td, "@"):
		return "userinfo is not allowed"
	case strings.Contains(td, "?"):
		return "a query is not allowed"
	case strings.Contains(td, "#"):
		return "a fragment is not allowed"
	case strings.Contains(td, ":"):
		return "a port is not allowed"
	case strings.Contains(td, "%"):
		return "percent-encoding is not allowed"
	}
	for i := 0; i < len(td); i++ {
		c := td[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		case 'A' <= c && c <= 'Z':
			return "the trust domain must be in lower case"
		default:
			return "the trust domain may only hold lower-case letters, digits, '.', '-' and '_'"
		}
	}
	return ""
}

func pathProblem(path string) string {
	switch {
	case path == "":
		return ""
	case strings.Contains(path, "?"):
		return "a query is not allowed"
	case strings.Contains(path, "#"):
		return "a fragment is not allowed"
	case strings.Contains(path, "%"):
		return "percent-encoding is not allowed"
	case strings.HasSuffix(path, "/"):
		return "the path must not end with /"
	}
	for _, seg := range strings.Split(path[1:], "/") {
		switch seg {
		case "":
			return "the path has an empty segment"
		case ".", "..":
			return "the path has a . or .. segment"
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
			default:
				return "path segments may only hold letters, digits, '.', '-' and '_'"
			}
		}
	}
	return ""
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// uriSANs are the URI names of cert's subject alternative names as
// written, before any URL parsing could normalise them.
func uriSANs(cert *x509.Certificate) ([]string, error) {
	var uris []string
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(ext.Value, &seq)
		if err != nil || len(rest) > 0 || !seq.IsCompound || seq.Tag != asn1.TagSequence {
			return nil, errors.New("malformed subject alternative name extension")
		}
		b := seq.Bytes
		for len(b) > 0 {
			var gn asn1.RawValue
			b, err = asn1.Unmarshal(b, &gn)
			if err != nil {
				return nil, errors.New("malformed subject alternative name extension")
			}
			if gn.Class == asn1.ClassContextSpecific && gn.Tag == 6 {
				uris = append(uris, string(gn.Bytes))
			}
		}
	}
	return uris, nil
}

// IDFromCert is the SPIFFE ID of a leaf X509-SVID, checked as X509-SVID
// section 5.2 asks of a validator: not a CA certificate, neither
// keyCertSign nor cRLSign, exactly one URI SAN, and that a valid SPIFFE
// ID with a path. It does not verify the chain: call it on a
// certificate crypto/tls (or Verify) verified.
func IDFromCert(cert *x509.Certificate) (ID, error) {
	if cert == nil {
		return ID{}, errors.New("no certificate")
	}
	if cert.BasicConstraintsValid && cert.IsCA {
		return ID{}, errors.New("the certificate is a CA certificate, not a leaf SVID")
	}
	if cert.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
		return ID{}, errors.New("a leaf SVID must not have the keyCertSign or cRLSign key usage")
	}
	uris, err := uriSANs(cert)
	if err != nil {
		return ID{}, err
	}
	switch len(uris) {
	case 0:
		return ID{}, errors.New("the certificate has no URI SAN, so no SPIFFE ID")
	case 1:
	default:
		return ID{}, fmt.Errorf("the certificate has %d URI SANs; an SVID has exactly one", len(uris))
	}
	id, err := ParseSPIFFEID(uris[0])
	if err != nil {
		return ID{}, err
	}
	if !id.IsWorkload() {
		return ID{}, fmt.Errorf("%s names a trust domain, not a workload: a leaf SVID's ID has a path", id)
	}
	return id, nil
}
