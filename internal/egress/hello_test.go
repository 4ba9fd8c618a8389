package egress

import (
	"bytes"
	"crypto/tls"
	"net"
	"slices"
	"testing"
)

// captureHello returns the records of the ClientHello crypto/tls sends
// with cfg.
func captureHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	c1, c2 := net.Pipe()
	done := make(chan struct{})
	go func() { _ = tls.Client(c1, cfg).Handshake(); close(done) }()
	raw, _, err := readClientHello(c2)
	if err != nil {
		t.Fatal(err)
	}
	_ = c2.Close()
	<-done
	_ = c1.Close()
	return raw
}

// fragment re-frames one-record hello into records of at most n bytes.
func fragment(raw []byte, n int) []byte {
	body := raw[5:]
	var out []byte
	for len(body) > 0 {
		k := min(n, len(body))
		out = append(out, 0x16, 3, 1, byte(k>>8), byte(k))
		out = append(out, body[:k]...)
		body = body[k:]
	}
	return out
}

func TestReadClientHello(t *testing.T) {
	modern := captureHello(t, &tls.Config{ServerName: "API.Stripe.com", NextProtos: []string{"h2", "http/1.1"}})
	tls12 := captureHello(t, &tls.Config{ServerName: "legacy.example", MaxVersion: tls.VersionTLS12})
	noSNI := captureHello(t, &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true}) //nolint:gosec // never completes
	cases := []struct {
		name     string
		in       []byte
		sni      string
		version  uint16
		alpn     []string
		wantErr  bool
		wantRead int // bytes consumed, when not all
	}{
		{name: "TLS 1.3 with SNI and ALPN", in: modern, sni: "api.stripe.com", version: tls.VersionTLS13, alpn: []string{"h2", "http/1.1"}},
		{name: "TLS 1.2 only", in: tls12, sni: "legacy.example", version: tls.VersionTLS12},
		{name: "no SNI for an IP", in: noSNI, sni: "", version: tls.VersionTLS13},
		{name: "fragmented into 100-byte records", in: fragment(modern, 100), sni: "api.stripe.com", version: tls.VersionTLS13, alpn: []string{"h2", "http/1.1"}},
		{name: "followed by more bytes", in: append(slices.Clone(modern), "extra"...), sni: "api.stripe.com", version: tls.VersionTLS13,
			alpn: []string{"h2", "http/1.1"}, wantRead: len(modern)},
		{name: "truncated", in: modern[:len(modern)-10], wantErr: true},
		{name: "not TLS", in: []byte("GET / HTTP/1.1\r\n\r\n"), wantErr: true},
		{name: "alert record", in: []byte{0x15, 3, 3, 0, 2, 2, 40}, wantErr: true},
		{name: "empty record", in: []byte{0x16, 3, 1, 0, 0}, wantErr: true},
		{name: "oversized record", in: []byte{0x16, 3, 1, 0xff, 0xff}, wantErr: true},
		{name: "not a ClientHello", in: []byte{0x16, 3, 1, 0, 4, 2, 0, 0, 0}, wantErr: true},
		{name: "huge handshake length", in: []byte{0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := bytes.NewReader(c.in)
			raw, h, err := readClientHello(r)
			if c.wantErr {
				if err == nil {
					t.Fatalf("no error: %+v", h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.ServerName != c.sni || h.MaxVersion() != c.version || !slices.Equal(h.ALPN, c.alpn) {
				t.Fatalf("got %+v", h)
			}
			want := len(c.in)
			if c.wantRead > 0 {
				want = c.wantRead
			}
			if len(raw) != want || !bytes.Equal(raw, c.in[:want]) {
				t.Fatalf("raw: %d bytes, want the %d read", len(raw), want)
			}
		})
	}
}

func TestCheckServerName(t *testing.T) {
	for in, want := range map[string]string{"Example.COM": "example.com", "a-b_c.d": "a-b_c.d"} {
		if got, err := checkServerName(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "a..b", ".a", "a.", "a b", "a:443", "a/b", "ä.com", string(make([]byte, 254))} {
		if _, err := checkServerName(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzParseClientHello: garbage never panics, and what parses has a
// valid host name.
func FuzzParseClientHello(f *testing.F) {
	for _, cfg := range []*tls.Config{{ServerName: "api.stripe.com", NextProtos: []string{"h2"}}, {ServerName: "x.test", MaxVersion: tls.VersionTLS12}} {
		raw := captureHello(f, cfg)
		f.Add(raw[5:])
	}
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := ParseClientHello(msg)
		if err != nil {
			return
		}
		if h.ServerName != "" {
			if _, err := checkServerName(h.ServerName); err != nil {
				t.Fatalf("parsed an invalid SNI %q", h.ServerName)
			}
		}
	})
}

// FuzzReadClientHello: the record layer over garbage.
func FuzzReadClientHello(f *testing.F) {
	raw := captureHello(f, &tls.Config{ServerName: "api.stripe.com"})
	f.Add(raw)
	f.Add(fragment(raw, 7))
	f.Add([]byte{0x16, 3, 1, 0, 1, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, _, _ := readClientHello(bytes.NewReader(in))
		if len(got) > len(in) || !bytes.Equal(got, in[:len(got)]) {
			t.Fatal("raw is not a prefix of the input")
		}
	})
}
