package pipeline

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// FillEvent writes the transaction into ev (taken from event.Get), copying
// what the pooled Txn owns so ev stays valid after the Txn is released.
func (tx *Txn) FillEvent(ev *event.Event, end time.Time) {
	r := tx.Req
	ev.TxnID = tx.ID
	ev.ParentTxnID = tx.ParentTxnID
	ev.TraceID = tx.TraceID
	ev.Time = tx.Start.UTC()
	ev.Placement = tx.Placement
	ev.Mode = tx.Mode
	ev.Route = tx.Route
	ev.Source.IP = tx.ClientIPText
	ev.Source.Country = tx.Country
	ev.Source.Workload = PeerWorkload(r)
	ev.Destination.Host = r.Host
	ev.Destination.Upstream = tx.Upstream
	ev.Request.Method = r.Method
	ev.Request.Path = r.URL.Path
	ev.Request.Query = r.URL.RawQuery
	ev.Request.Endpoint = tx.Endpoint
	ev.Request.Bytes = max(r.ContentLength, 0)
	if len(tx.body) > 0 && ev.Request.Bytes == 0 {
		ev.Request.Bytes = int64(len(tx.body))
	}
	ev.Request.UserAgent = r.Header.Get("User-Agent")
	ev.Request.ContentType = r.Header.Get("Content-Type")
	ev.Request.Auth = tx.Auth
	ev.Response.Status = tx.Resp.Status
	ev.Response.Bytes = tx.Resp.Bytes
	if tx.Resp.Header != nil {
		ev.Response.ContentType = tx.Resp.Header.Get("Content-Type")
	}
	if cs := tx.UpstreamTLS; cs != nil {
		ev.Destination.TLS = &event.TLS{Version: strings.TrimPrefix(tls.VersionName(cs.Version), "TLS "), Cipher: tls.CipherSuiteName(cs.CipherSuite),
			Group: cs.CurveID.String(), MTLS: tx.UpstreamMTLS}
	}
	if cs := r.TLS; cs != nil {
		ev.TLS = &event.TLS{Version: strings.TrimPrefix(tls.VersionName(cs.Version), "TLS "), Cipher: tls.CipherSuiteName(cs.CipherSuite),
			Group: cs.CurveID.String(), MTLS: len(cs.PeerCertificates) > 0, Intercepted: Intercepted(r.Context())}
	}
	if tx.Identity != nil {
		id := *tx.Identity
		ev.Identity = &id
	} else if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		// Not verified here (the upstream may check it): its hash still
		// says which token was used. Never Basic credentials, whose
		// passwords a hash would not protect.
		sum := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
		ev.Request.TokenID = "sha256:" + hex.EncodeToString(sum[:8])
	}
	ev.Findings = append(ev.Findings[:0], tx.Findings...)
	ev.Decision = tx.Decision.String()
	ev.Error = tx.UpstreamErr
	total := end.Sub(tx.Start)
	ev.Latency.Total = ms(total)
	ev.Latency.Vigil = ms(max(total-tx.UpstreamTime, 0))
}

func ms(d time.Duration) float64 {
	// Microsecond resolution keeps the JSON short.
	return float64(d.Microseconds()) / 1000
}

// PeerWorkload is the SPIFFE ID of the client certificate the TLS listener
// verified: the leaf's one spiffe:// URI SAN. A certificate presented but
// not verified (no verified chain), or one with no or several SPIFFE IDs,
// gives "".
func PeerWorkload(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return spiffeID(r.TLS.PeerCertificates[0])
}

func spiffeID(leaf *x509.Certificate) string {
	// X509-SVID §5.2: a leaf, exactly one URI SAN, a spiffe:// ID with a
	// trust domain and nothing a SPIFFE ID may not hold.
	if len(leaf.URIs) != 1 || (leaf.BasicConstraintsValid && leaf.IsCA) {
		return ""
	}
	u := leaf.URIs[0]
	if u.Scheme != "spiffe" || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || u.Host == "" || u.Opaque != "" {
		return ""
	}
	return u.String()
}
