package egress

import (
	"container/list"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/pki"
)

// Minter issues the leaf certificates the egress listener presents to the
// app for intercepted hosts: ECDSA P-256, one DNS (or IP) SAN, serverAuth
// only, short-lived, signed by the Vigil CA's intermediate. Leaves are
// cached by host in a bounded LRU and re-minted after half their life.
type Minter struct {
	inter *x509.Certificate
	key   crypto.Signer
	ttl   time.Duration
	max   int
	now   func() time.Time

	mu       sync.Mutex
	lru      *list.List // of *leaf, most recent first
	byHost   map[string]*list.Element
	inflight map[string]*mintCall
	minted   uint64
}

type leaf struct {
	host    string
	cert    *tls.Certificate
	renewAt time.Time
}

type mintCall struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// NewMinter loads the CA in dir (pki.Load checks that its files make one
// CA) and its intermediate key.
//
// The leaves are signed with the intermediate's key as pki.Load loaded
// and checked it.
func NewMinter(dir string, ttl time.Duration, size int) (*Minter, error) {
	ca, err := pki.Load(dir)
	if err != nil {
		return nil, err
	}
	key := ca.IntermediateSigner()
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	if size <= 0 {
		size = 1024
	}
	return &Minter{inter: ca.Intermediate, key: key, ttl: ttl, max: size, now: time.Now,
		lru: list.New(), byHost: map[string]*list.Element{}, inflight: map[string]*mintCall{}}, nil
}

// Certificate returns the leaf for host, from the cache or freshly
// minted (concurrent callers for one host share one minting).
func (m *Minter) Certificate(host string) (*tls.Certificate, error) {
	now := m.now()
	m.mu.Lock()
	if e, ok := m.byHost[host]; ok {
		l := e.Value.(*leaf)
		if now.Before(l.renewAt) {
			m.lru.MoveToFront(e)
			m.mu.Unlock()
			return l.cert, nil
		}
	}
	if c, ok := m.inflight[host]; ok {
		m.mu.Unlock()
		<-c.done
		return c.cert, c.err
	}
	c := &mintCall{done: make(chan struct{})}
	m.inflight[host] = c
	m.mu.Unlock()

	c.cert, c.err = m.mint(host, now)

	m.mu.Lock()
	delete(m.inflight, host)
	if c.err == nil {
		m.minted++
		l := &leaf{host: host, cert: c.cert, renewAt: now.Add(c.cert.Leaf.NotAfter.Sub(now) / 2)}
		if e, ok := m.byHost[host]; ok {
			e.Value = l
			m.lru.MoveToFront(e)
		} else {
			m.byHost[host] = m.lru.PushFront(l)
			for m.lru.Len() > m.max {
				old := m.lru.Remove(m.lru.Back()).(*leaf)
				delete(m.byHost, old.host)
			}
		}
	}
	m.mu.Unlock()
	close(c.done)
	return c.cert, c.err
}

// Stats are the cached leaves and how many were minted in all.
func (m *Minter) Stats() (cached int, minted uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len(), m.minted
}

func (m *Minter) mint(host string, now time.Time) (*tls.Certificate, error) {
	if host == "" {
		return nil, errors.New("no host name to mint a certificate for")
	}
	if !now.Before(m.inter.NotAfter) {
		return nil, fmt.Errorf("the intermediate CA expired at %s: rotate it (vigil ca rotate)", m.inter.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	serial.SetBit(serial, 127, 1) // positive, 128 bits
	notBefore := now.Add(-pki.Backdate)
	if notBefore.Before(m.inter.NotBefore) {
		notBefore = m.inter.NotBefore
	}
	notAfter := now.Add(m.ttl)
	if notAfter.After(m.inter.NotAfter) {
		notAfter = m.inter.NotAfter
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	skid := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Vigil egress"}, CommonName: host},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SubjectKeyId:          skid[:20],
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.inter, &key.PublicKey, m.key)
	if err != nil {
		return nil, fmt.Errorf("minting a certificate for %s: %w", host, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, m.inter.Raw}, PrivateKey: key, Leaf: cert}, nil
}
