package tlsconf

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
)

// BenchmarkHandshake: full mutual TLS 1.3 handshakes between two SVIDs
// (modern profile), with the hybrid post-quantum group and with X25519
// alone. handshakes/s is the figure to compare.
func BenchmarkHandshake(b *testing.B) {
	ca := newCA(b, "bench.local")
	srvCfg, err := Server(&config.HTTPS{Profile: ProfileModern, SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://bench.local/b"}}, quiet)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		curve tls.CurveID
	}{{"X25519MLKEM768", tls.X25519MLKEM768}, {"X25519", tls.X25519}} {
		b.Run(tc.name, func(b *testing.B) {
			cl, err := Client(&config.UpstreamTLS{Profile: ProfileModern, SVID: &config.SVID{CADir: ca, SPIFFEID: "spiffe://bench.local/a"},
				SPIFFEID: "spiffe://bench.local/b"}, "", "", quiet)
			if err != nil {
				b.Fatal(err)
			}
			cl.CurvePreferences = []tls.CurveID{tc.curve}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						s := tls.Server(c, srvCfg)
						_ = s.Handshake()
						_, _ = s.Read(make([]byte, 1)) // until the client closes
						s.Close()
					}()
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				raw, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c := tls.Client(raw, cl)
				if err := c.Handshake(); err != nil {
					b.Fatal(err)
				}
				if got := c.ConnectionState().CurveID; got != tc.curve {
					b.Fatalf("negotiated %v, want %v", got, tc.curve)
				}
				c.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}
