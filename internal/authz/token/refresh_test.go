package token

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer serves a JWK Set that tests can swap, fail, and count.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	hits   atomic.Int64
	header http.Header
}

func newJWKSServer(t *testing.T, ss ...*signer) *jwksServer {
	s := &jwksServer{body: jwksJSON(false, ss...), status: 200, header: http.Header{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		for k, v := range s.header {
			w.Header()[k] = v
		}
		w.WriteHeader(s.status)
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, ss ...*signer) {
	s.mu.Lock()
	s.status, s.body = status, jwksJSON(false, ss...)
	s.mu.Unlock()
}

func urlVerifier(t *testing.T, c IssuerConfig) *Verifier {
	t.Helper()
	if c.Issuer == "" {
		c.Issuer = issMain
	}
	if c.Algorithms == nil {
		c.Algorithms = []string{"ES256"}
	}
	v, err := New(context.Background(), Options{Issuers: []IssuerConfig{c}, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasKid(v *Verifier, iss, kid string) bool {
	s := v.issuers[iss].keys.Load()
	return s != nil && len(s.byKid[kid]) > 0
}

func TestBackgroundRefreshPicksUpRotatedKey(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, k.ec1)
	v := urlVerifier(t, IssuerConfig{JWKSURL: srv.URL, Refresh: time.Second, MinRefresh: time.Hour})
	if _, err := v.Verify(context.Background(), tok(k.ec1, issMain, nil)); err != nil {
		t.Fatal(err)
	}
	srv.serve(200, k.ec2) // rotation: ec1 retired, ec2 in
	eventually(t, "the background refresh", func() bool { return hasKid(v, issMain, "ec2") })
	if _, err := v.Verify(context.Background(), tok(k.ec2, issMain, nil)); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if _, err := v.Verify(context.Background(), tok(k.ec1, issMain, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key: %v, want ErrUnknownKey", err)
	}
}

func TestUnknownKidRefreshIsRateLimited(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, k.ec1)
	v := urlVerifier(t, IssuerConfig{JWKSURL: srv.URL, Refresh: time.Hour, MinRefresh: 400 * time.Millisecond})
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches at start, want 1", n)
	}
	ghost := compactToken(k.ec1, `{"alg":"ES256","kid":"ghost"}`, claims(issMain, nil))
	for range 20 {
		if _, err := v.Verify(context.Background(), ghost); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after 20 unknown-kid tokens, want 2 (one refresh per MinRefresh)", n)
	}
	// The issuer rotates in ec2: within MinRefresh it is not fetched...
	srv.serve(200, k.ec1, k.ec2)
	if _, err := v.Verify(context.Background(), tok(k.ec2, issMain, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("within MinRefresh: %v, want ErrUnknownKey", err)
	}
	// ...after it, the first token with the new kid fetches it and passes.
	time.Sleep(450 * time.Millisecond)
	if _, err := v.Verify(context.Background(), tok(k.ec2, issMain, nil)); err != nil {
		t.Fatalf("after MinRefresh: %v", err)
	}
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

func TestIssuerDownKeepsOldKeys(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, k.ec1)
	v := urlVerifier(t, IssuerConfig{JWKSURL: srv.URL, Refresh: time.Hour})
	is := v.issuers[issMain]
	check := func(when string) {
		t.Helper()
		if _, err := v.Verify(context.Background(), tok(k.ec1, issMain, nil)); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	check("up")
	srv.serve(500)
	if _, err := is.refresh(context.Background()); err == nil {
		t.Fatal("refresh against a 500 succeeded")
	}
	check("answering 500")
	srv.mu.Lock()
	srv.status, srv.body = 200, []byte(`{"keys":[]}`)
	srv.mu.Unlock()
	if _, err := is.refresh(context.Background()); err == nil {
		t.Fatal("refresh to an empty set succeeded")
	}
	check("serving an empty set")
	srv.Close()
	if _, err := is.refresh(context.Background()); err == nil {
		t.Fatal("refresh against a closed server succeeded")
	}
	check("down")
}

func TestUnreachableAtStartRetries(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t)
	srv.serve(503)
	v := urlVerifier(t, IssuerConfig{JWKSURL: srv.URL, Refresh: time.Hour, MinRefresh: time.Hour})
	if _, err := v.Verify(context.Background(), tok(k.ec1, issMain, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before keys: %v, want ErrUnknownKey", err)
	}
	srv.serve(200, k.ec1)
	eventually(t, "the retry", func() bool { return hasKid(v, issMain, "ec1") })
	if _, err := v.Verify(context.Background(), tok(k.ec1, issMain, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestDiscovery(t *testing.T) {
	k := keys()
	var jwksHits atomic.Int64
	var docIssuer atomic.Value
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": docIssuer.Load().(string), "jwks_uri": srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		jwksHits.Add(1)
		w.Header().Set("Content-Type", "text/plain") // not required to be JSON
		_, _ = w.Write(jwksJSON(false, k.ec1))
	})

	t.Run("ok", func(t *testing.T) {
		docIssuer.Store(srv.URL)
		v := urlVerifier(t, IssuerConfig{Issuer: srv.URL, Discovery: "true"})
		p, err := v.Verify(context.Background(), tok(k.ec1, srv.URL, nil))
		if err != nil || p.Issuer != srv.URL {
			t.Fatalf("%v %+v", err, p)
		}
	})
	t.Run("issuer mismatch", func(t *testing.T) {
		docIssuer.Store("https://impostor.test")
		jwksHits.Store(0)
		v := urlVerifier(t, IssuerConfig{Issuer: srv.URL, Discovery: srv.URL + "/.well-known/openid-configuration", MinRefresh: time.Hour})
		_, err := v.Verify(context.Background(), tok(k.ec1, srv.URL, nil))
		var te *Error
		if !errors.As(err, &te) || te.Reason != "no_keys" {
			t.Fatalf("%v, want no_keys", err)
		}
		if n := jwksHits.Load(); n != 0 {
			t.Fatalf("jwks_uri of a mismatched document fetched %d times", n)
		}
	})
}

func TestFetchLimits(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`))
	}))
	defer big.Close()
	is := newIssuer(IssuerConfig{Issuer: "i", JWKSURL: big.URL, Refresh: time.Minute}, true, http.DefaultClient, discard())
	if _, _, err := is.get(context.Background(), big.URL); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized JWKS: %v", err)
	}
	cases := []struct {
		cc   string
		set  bool
		want time.Duration
	}{
		{"", false, time.Minute},
		{"max-age=600", false, 10 * time.Minute},
		{"public, max-age=5", false, time.Minute},
		{"max-age=999999", false, 24 * time.Hour},
		{"no-store, max-age=600", false, time.Minute},
		{"max-age=600", true, time.Minute},
	}
	for _, c := range cases {
		is.refreshSet = c.set
		if got := is.interval(maxAge(c.cc)); got != c.want {
			t.Errorf("Cache-Control %q (refresh set %v): interval %v, want %v", c.cc, c.set, got, c.want)
		}
	}
}
