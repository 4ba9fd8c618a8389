package tlsconf

import (
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/pki"
)

func newCA(t testing.TB, td string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := pki.Init(dir, td, pki.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

var quiet = slog.New(slog.DiscardHandler)

// mtlsServer serves the caller's verified SPIFFE ID back, with the
// connection's TLS facts.
func mtlsServer(t *testing.T, h *config.HTTPS) *httptest.Server {
	t.Helper()
	tc, err := Server(h, quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if len(r.TLS.VerifiedChains) > 0 {
			if pid, err := pki.IDFromCert(r.TLS.PeerCertificates[0]); err == nil {
				id = pid.String()
			}
		}
		io.WriteString(w, id+" "+tls.VersionName(r.TLS.Version)+" "+r.TLS.CurveID.String())
	}))
	// Not StartTLS: it would add its own certificate, which Go prefers to
	// GetCertificate when the client sends no SNI.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.Listener = tls.NewListener(srv.Listener, tc)
	srv.Start()
	srv.URL = strings.Replace(srv.URL, "http://", "https://", 1)
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, u *config.UpstreamTLS, keepAlive bool) *http.Client {
	t.Helper()
	tc, err := Client(u, "", "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: !keepAlive, ForceAttemptHTTP2: true}}
}

func TestMutualTLSBySPIFFEID(t *testing.T) {
	ca := newCA(t, "shop.local")
	other := newCA(t, "shop.local") // same trust domain name, another CA
	srv := mtlsServer(t, &config.HTTPS{Profile: ProfileModern, SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/orders"}})
	for _, tc := range []struct {
		name string
		u    config.UpstreamTLS
		want string // response, or "error: " and a part of it
	}{
		{"the right peer, both ways", config.UpstreamTLS{Profile: ProfileModern, SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/cart"},
			SPIFFEID: "spiffe://shop.local/orders"}, "spiffe://shop.local/cart TLS 1.3 X25519MLKEM768"},
		{"a subtree pattern", config.UpstreamTLS{SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/cart"},
			SPIFFEID: "spiffe://shop.local/*"}, "spiffe://shop.local/cart TLS 1.3"},
		{"the server is not who we want", config.UpstreamTLS{SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/cart"},
			SPIFFEID: "spiffe://shop.local/payments"}, "error: the upstream is spiffe://shop.local/orders, not spiffe://shop.local/payments"},
		{"a client certificate from another CA", config.UpstreamTLS{SVID: &config.SVID{CADir: other, SPIFFEID: "spiffe://shop.local/cart"},
			CA: filepath.Join(ca, "bundle.pem"), SPIFFEID: "spiffe://shop.local/orders"}, "error: "},
		{"a server from another CA", config.UpstreamTLS{SVID: &config.SVID{CADir: other, SPIFFEID: "spiffe://shop.local/cart"},
			SPIFFEID: "spiffe://shop.local/orders"}, "error: does not chain"},
		{"no client certificate", config.UpstreamTLS{CA: filepath.Join(ca, "bundle.pem"), SPIFFEID: "spiffe://shop.local/orders"}, "error: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client(t, &tc.u, false).Get(srv.URL)
			if want, isErr := strings.CutPrefix(tc.want, "error: "); isErr {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("connected (status %d), want an error containing %q", resp.StatusCode, want)
				}
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.HasPrefix(string(b), tc.want) {
				t.Fatalf("server saw %q, want %q", b, tc.want)
			}
		})
	}
}

// TestProfiles: modern refuses TLS 1.2; compatible takes it (AEAD only).
func TestProfiles(t *testing.T) {
	ca := newCA(t, "shop.local")
	for _, tc := range []struct {
		profile string
		max     uint16
		ok      bool
	}{{ProfileModern, tls.VersionTLS12, false}, {ProfileModern, tls.VersionTLS13, true}, {ProfileCompatible, tls.VersionTLS12, true}} {
		srv := mtlsServer(t, &config.HTTPS{Profile: tc.profile, ClientAuth: "none", SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/web"}})
		tcfg, err := Client(&config.UpstreamTLS{CA: filepath.Join(ca, "bundle.pem"), SPIFFEID: "spiffe://shop.local/web"}, "", "", quiet)
		if err != nil {
			t.Fatal(err)
		}
		tcfg.MaxVersion = tc.max
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("profile %s, client max %s: err %v, want ok=%v", tc.profile, tls.VersionName(tc.max), err, tc.ok)
		}
	}
}

// TestSVIDRotation: with 2-second SVIDs renewed at half-life, continuous
// traffic over kept-alive and new connections sees no error across
// several renewals of both sides.
func TestSVIDRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 5 s")
	}
	ca := newCA(t, "shop.local")
	srv := mtlsServer(t, &config.HTTPS{SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/orders", TTL: 2 * time.Second}})
	u := &config.UpstreamTLS{SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/cart", TTL: 2 * time.Second},
		SPIFFEID: "spiffe://shop.local/orders"}
	kept, fresh := client(t, u, true), client(t, u, false)
	serials := map[string]bool{}
	n := 0
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); n++ {
		for _, c := range []*http.Client{kept, fresh} {
			resp, err := c.Get(srv.URL)
			if err != nil {
				t.Fatalf("request %d: %v", n, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			serials[resp.TLS.PeerCertificates[0].SerialNumber.String()] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(serials) < 3 {
		t.Fatalf("the server's SVID was renewed %d times in 5 s, want at least 2 renewals", len(serials)-1)
	}
	t.Logf("%d requests, %d server SVIDs", 2*n, len(serials))
}

func TestExpiresSoon(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		left, lifetime time.Duration
		soon           bool
	}{
		{30 * 24 * time.Hour, 90 * 24 * time.Hour, false},
		{6 * 24 * time.Hour, 90 * 24 * time.Hour, true},
		{12 * time.Hour, 24 * time.Hour, false}, // an SVID at its renewal point
		{5 * time.Hour, 24 * time.Hour, true},   // its renewal failed
		{30 * time.Minute, 2 * time.Hour, true},
		{-time.Hour, 24 * time.Hour, true},
	} {
		if got := ExpiresSoon(now.Add(tc.left), tc.lifetime, now); got != tc.soon {
			t.Errorf("%s left of %s: %v, want %v", tc.left, tc.lifetime, got, tc.soon)
		}
	}
	ca := newCA(t, "shop.local")
	c, err := Server(&config.HTTPS{SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://shop.local/x", TTL: time.Hour}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	na, life, ok := Expiry(c)
	if !ok || life < time.Hour || time.Until(na) < 55*time.Minute {
		t.Fatalf("expiry %v lifetime %v ok %v", na, life, ok)
	}
}
