package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestMutualTLS: two SVIDs of one CA authenticate each other over a real
// TLS 1.3 connection on loopback. The server requires a client
// certificate and crypto/tls verifies it against the bundle; the client
// verifies the server's chain with Verify (an SVID has no DNS name to
// check). Each side reads the other's SPIFFE ID.
func TestMutualTLS(t *testing.T) {
	for _, p := range []Profile{ECDSAP256, Ed25519, RSA3072} {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			ca := newCA(t, InitOptions{Profile: p})
			stranger := newCA(t, InitOptions{Profile: p}) // same trust domain name, other keys
			server := issue(t, ca, "spiffe://example.org/gateway", time.Hour)
			client := issue(t, ca, "spiffe://example.org/ns/shop/sa/web", time.Hour)
			forged := issue(t, stranger, "spiffe://example.org/ns/shop/sa/web", time.Hour)

			tests := []struct {
				name       string
				client     *SVID // nil: no client certificate
				wantServer string
				serverErr  string // part of the server's handshake error
				clientErr  string // part of the client's
			}{
				{name: "both SVIDs of the CA", client: client, wantServer: server.ID.String()},
				{name: "client of another CA", client: forged, wantServer: server.ID.String(), serverErr: "certificate signed by unknown authority"},
				{name: "no client certificate", client: nil, wantServer: server.ID.String(), serverErr: "client didn't provide a certificate"},
				{name: "server not the one expected", client: client, wantServer: "spiffe://example.org/other", clientErr: "want spiffe://example.org/other"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					o := handshake(t, ca.Bundle, server, tt.client, tt.wantServer)
					peer, srvErr, cliErr, state := o.peer, o.srvErr, o.cliErr, o.state
					if tt.serverErr != "" || tt.clientErr != "" {
						if tt.serverErr != "" && (srvErr == nil || !strings.Contains(srvErr.Error(), tt.serverErr)) {
							t.Errorf("server: %v, want %q", srvErr, tt.serverErr)
						}
						if tt.clientErr != "" && (cliErr == nil || !strings.Contains(cliErr.Error(), tt.clientErr)) {
							t.Errorf("client: %v, want %q", cliErr, tt.clientErr)
						}
						if srvErr == nil && cliErr == nil {
							t.Error("the handshake succeeded")
						}
						return
					}
					if srvErr != nil || cliErr != nil {
						t.Fatalf("server: %v; client: %v", srvErr, cliErr)
					}
					if state.Version != tls.VersionTLS13 {
						t.Errorf("TLS version %x, want 1.3", state.Version)
					}
					if peer != client.ID {
						t.Errorf("the server saw %v, want %v", peer, client.ID)
					}
				})
			}
		})
	}
}

// outcome is what a handshake ended with.
type outcome struct {
	peer           ID // the client's ID, as the server read it
	srvErr, cliErr error
	state          tls.ConnectionState // the client's
}

// handshake runs one mutual TLS 1.3 handshake on loopback. The client
// expects the server's ID wantServer.
func handshake(t *testing.T, bundle []*x509.Certificate, server, client *SVID, wantServer string) outcome {
	t.Helper()
	srvCfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    Pool(bundle),
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		id  ID
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		st := tc.ConnectionState()
		if len(st.VerifiedChains) == 0 {
			done <- result{err: errors.New("no verified chain")}
			return
		}
		id, err := IDFromCert(st.VerifiedChains[0][0])
		if err == nil {
			_, err = io.WriteString(tc, "hello "+id.String())
		}
		done <- result{id: id, err: err}
	}()

	cliCfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// An SVID names no host: the chain and the ID are checked in
		// VerifyConnection instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := Verify(bundle, cs.PeerCertificates)
			if err != nil {
				return err
			}
			if id.String() != wantServer {
				return fmt.Errorf("server is %s, want %s", id, wantServer)
			}
			return nil
		},
	}
	if client != nil {
		// Sent whatever CAs the server names, so that the server's
		// verification is what is tested.
		cert := client.TLSCertificate()
		cliCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cliCfg)
	var state tls.ConnectionState
	var cliErr error
	if err != nil {
		cliErr = err
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		state = conn.ConnectionState()
		// In TLS 1.3 the client learns of a refused certificate on
		// its first read.
		b, err := io.ReadAll(conn)
		if err != nil {
			cliErr = err
		} else if client != nil && string(b) != "hello "+client.ID.String() {
			cliErr = fmt.Errorf("server said %q", b)
		}
		conn.Close()
	}
	r := <-done
	return outcome{peer: r.id, srvErr: r.err, cliErr: cliErr, state: state}
}
