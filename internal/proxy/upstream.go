package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/tlsconf"
)

// newTransport builds the pooled, keep-alive transport of one route.
// https upstreams are verified (system roots, or the route's CA file);
// h2c:// upstreams speak HTTP/2 without TLS (gRPC backends).
func newTransport(r *config.Route, u *url.URL) (*http.Transport, error) {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: r.Timeout,
		// Bodies are passed through as the upstream sent them.
		DisableCompression: true,
		WriteBufferSize:    32 << 10,
		ReadBufferSize:     32 << 10,
	}
	switch u.Scheme {
	case "https":
		if r.UpstreamTLS != nil {
			tc, err := tlsconf.Client(r.UpstreamTLS, r.UpstreamCA, r.UpstreamServerName, slog.Default())
			if err != nil {
				return nil, err
			}
			t.TLSClientConfig = tc
			t.ForceAttemptHTTP2 = true
			break
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: r.UpstreamServerName,
			InsecureSkipVerify: r.InsecureSkipVerify} //nolint:gosec // explicit, logged opt-in
		if r.UpstreamCA != "" {
			pem, err := os.ReadFile(r.UpstreamCA)
			if err != nil {
				return nil, fmt.Errorf("upstream_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("upstream_ca: %s holds no PEM certificate", r.UpstreamCA)
			}
			tc.RootCAs = pool
		}
		t.TLSClientConfig = tc
		t.ForceAttemptHTTP2 = true
	case "h2c":
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		t.Protocols = &p
	}
	return t, nil
}

// upstreamURL maps h2c:// to the http:// URL the transport dials.
func upstreamURL(raw string) (*url.URL, *url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	target := *u
	if u.Scheme == "h2c" {
		target.Scheme = "http"
	}
	return u, &target, nil
}

// newReverseProxy returns the route's httputil.ReverseProxy: hop-by-hop
// headers are stripped by httputil; forwarding headers are rewritten with
// the trust list; upgrades, trailers and streaming pass through.
func newReverseProxy(target *url.URL, t http.RoundTripper, trust Trust, bp httputil.BufferPool, errh func(http.ResponseWriter, *http.Request, error)) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// Keep the client's Host, as an edge proxy should.
			pr.Out.Host = pr.In.Host
			trust.SetForwarded(pr.Out, pr.In, pr.In.TLS != nil)
			// As in the forwarder: the gateway's trace headers stay,
			// even when the client named them in Connection.
			for _, k := range [...]string{"Traceparent", "Vigil-Txn"} {
				if v := pr.In.Header[k]; v != nil {
					pr.Out.Header[k] = v
				}
			}
		},
		Transport: t,
		// Streaming responses (server-sent events, gRPC, any response of
		// unknown length) are flushed on every write by httputil itself.
		ErrorHandler: errh,
		BufferPool:   bp,
	}
}
