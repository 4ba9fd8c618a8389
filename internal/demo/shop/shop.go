// Package shop is Vigil's demo shop: a small cloud-native shop made of
// front-end, catalog, cart, users and order services, each on its own
// loopback listener, plus an "external" payment provider reached over HTTPS.
//
// The order service calls the cart service east-west over plain HTTP and the
// payment provider north-south over TLS, so that a Vigil gateway or sidecar
// placed in front of the services has realistic traffic to discover and
// protect. State is in memory and safe for concurrent use.
package shop

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Default values of Options.
const (
	DefaultPaymentKey = "sk_test_51DemoVigilShop4eC39HqLyjWDarjtT1zdp7dc"
	DefaultTokenTTL   = time.Hour
	// MaxBodyBytes is the largest request body any shop service reads;
	// larger bodies get 413.
	MaxBodyBytes = 1 << 20
)

// Options configure Start. The zero value is a working shop.
type Options struct {
	// Host is the address every listener binds, with an ephemeral port.
	// Default "127.0.0.1".
	Host string
	// CartURL is the base URL the order service uses to reach the cart
	// service (for example a sidecar's outbound listener). Default: the
	// cart listener's own URL.
	CartURL string
	// PaymentURL is the base URL the order service uses to reach the
	// payment provider. Default: the payment listener's own URL.
	PaymentURL string
	// Client is the HTTP client the order service uses for its east-west
	// and payment calls. It must trust the payment provider's certificate
	// (Shop.PaymentCA) or whatever intercepts the call. Default: a client
	// that trusts PaymentCA. When the client can only be built after Start
	// (because it needs PaymentCA), use Shop.SetEgress.
	Client *http.Client
	// PaymentKey is the payment provider's secret API key; the order
	// service sends it as "Authorization: Bearer <key>". Default
	// DefaultPaymentKey.
	PaymentKey string
	// SigningKey is the HS256 key of the users service's tokens. Default:
	// 32 random bytes.
	SigningKey []byte
	// TokenTTL is the lifetime of issued tokens. Default DefaultTokenTTL.
	TokenTTL time.Duration
	// Logger receives one debug line per request and service errors.
	// Default: discard.
	Logger *slog.Logger
}

// Route tells a gateway which service serves a path prefix.
type Route struct {
	Name       string // service name: frontend, catalog, cart, users, order
	PathPrefix string
	Upstream   string // base URL of the service
}

// Egress is where the order service sends its outbound calls.
type Egress struct {
	CartURL    string
	PaymentURL string
	Client     *http.Client
}

// Shop is a running demo shop. The exported fields are set by Start and must
// not be changed.
type Shop struct {
	// Base URLs (scheme://host:port) of each service.
	Frontend, Catalog, Cart, Users, Order, Payment string
	// PaymentCA holds the payment provider's self-signed certificate,
	// PaymentCert.
	PaymentCA   *x509.CertPool
	PaymentCert *x509.Certificate
	// PaymentKey is the secret key the order service sends to the payment
	// provider.
	PaymentKey string

	log      *slog.Logger
	products []Product
	byID     map[int]Product
	users    []User
	tokens   *tokenIssuer
	carts    *cartStore
	charges  *chargeStore

	egressMu sync.RWMutex
	egress   Egress
	ownHTTP  *http.Client // the default client, closed by Close

	servers   []*http.Server
	serveWG   sync.WaitGroup
	stopCtx   func() bool
	closeOnce sync.Once
	closeErr  error
}

// Start binds every service to an ephemeral loopback port and serves them
// until Close is called or ctx is cancelled. On error nothing is left
// running.
func Start(ctx context.Context, opts Options) (*Shop, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.PaymentKey == "" {
		opts.PaymentKey = DefaultPaymentKey
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if len(opts.SigningKey) == 0 {
		opts.SigningKey = make([]byte, 32)
		if _, err := rand.Read(opts.SigningKey); err != nil {
			return nil, fmt.Errorf("shop: signing key: %w", err)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Shop{
		PaymentKey: opts.PaymentKey,
		log:        opts.Logger,
		products:   Catalog(),
		users:      users(),
		tokens:     newTokenIssuer(opts.SigningKey, opts.TokenTTL),
		carts:      newCartStore(),
		charges:    &chargeStore{},
	}
	s.byID = make(map[int]Product, len(s.products))
	for _, p := range s.products {
		s.byID[p.ID] = p
	}

	cert, pool, err := selfSignedCert(opts.Host)
	if err != nil {
		return nil, fmt.Errorf("shop: payment certificate: %w", err)
	}
	s.PaymentCA, s.PaymentCert = pool, cert.Leaf

	type svc struct {
		name    string
		url     *string
		handler http.Handler
		tls     bool
	}
	svcs := []svc{
		{"frontend", &s.Frontend, s.frontendHandler(), false},
		{"catalog", &s.Catalog, s.catalogHandler(), false},
		{"cart", &s.Cart, s.cartHandler(), false},
		{"users", &s.Users, s.usersHandler(), false},
		{"order", &s.Order, s.orderHandler(), false},
		{"payment", &s.Payment, s.paymentHandler(), true},
	}
	lns := make([]net.Listener, 0, len(svcs))
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, sv := range svcs {
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.Host, "0"))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("shop: %s listener: %w", sv.name, err)
		}
		lns = append(lns, ln)
		scheme := "http"
		if sv.tls {
			scheme = "https"
		}
		*sv.url = scheme + "://" + ln.Addr().String()
	}

	s.ownHTTP = newClient(pool)
	s.egress = Egress{CartURL: s.Cart, PaymentURL: s.Payment, Client: s.ownHTTP}
	s.SetEgress(Egress{CartURL: opts.CartURL, PaymentURL: opts.PaymentURL, Client: opts.Client})

	errLog := slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug)
	for i, sv := range svcs {
		srv := &http.Server{
			Handler:           s.logRequests(sv.name, sv.handler),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          errLog,
		}
		ln := lns[i]
		if sv.tls {
			srv.TLSConfig = tlsServerConfig(cert)
		}
		s.servers = append(s.servers, srv)
		s.serveWG.Add(1)
		go func(name string, tlsOn bool) {
			defer s.serveWG.Done()
			var err error
			if tlsOn {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("shop: serve", "service", name, "err", err)
			}
		}(sv.name, sv.tls)
	}
	s.stopCtx = context.AfterFunc(ctx, func() { s.Close() })
	return s, nil
}

// Close stops every service and waits for them to finish. It is safe to call
// more than once.
func (s *Shop) Close() error {
	s.closeOnce.Do(func() {
		if s.stopCtx != nil {
			s.stopCtx()
		}
		var errs []error
		for _, srv := range s.servers {
			if err := srv.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		s.serveWG.Wait()
		s.ownHTTP.CloseIdleConnections()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Routes returns the path prefixes a gateway should send to each service,
// most specific first; "/" (the front-end) is last.
func (s *Shop) Routes() []Route {
	return []Route{
		{Name: "catalog", PathPrefix: "/products", Upstream: s.Catalog},
		{Name: "cart", PathPrefix: "/cart", Upstream: s.Cart},
		{Name: "users", PathPrefix: "/login", Upstream: s.Users},
		{Name: "users", PathPrefix: "/users", Upstream: s.Users},
		{Name: "order", PathPrefix: "/order", Upstream: s.Order},
		{Name: "frontend", PathPrefix: "/", Upstream: s.Frontend},
	}
}

// SetEgress changes where the order service sends its outbound calls, for
// example to route them through a sidecar started after the shop. Empty
// fields keep their current value.
func (s *Shop) SetEgress(e Egress) {
	s.egressMu.Lock()
	defer s.egressMu.Unlock()
	if e.CartURL != "" {
		s.egress.CartURL = e.CartURL
	}
	if e.PaymentURL != "" {
		s.egress.PaymentURL = e.PaymentURL
	}
	if e.Client != nil {
		s.egress.Client = e.Client
	}
}

func (s *Shop) currentEgress() Egress {
	s.egressMu.RLock()
	defer s.egressMu.RUnlock()
	return s.egress
}

// Products returns a copy of the catalog this shop serves.
func (s *Shop) Products() []Product {
	return append([]Product(nil), s.products...)
}

// Charges returns a copy of every charge the payment provider accepted, in
// order.
func (s *Shop) Charges() []Charge {
	return s.charges.list()
}

// logRequests logs one debug line per request.
func (s *Shop) logRequests(service string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "shop request",
			slog.String("service", service),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("took", time.Since(start)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func newClient(pool *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsClientConfig(pool)
	tr.MaxIdleConnsPerHost = 16
	tr.IdleConnTimeout = 30 * time.Second
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// randomID returns prefix followed by n random bytes in hex.
func randomID(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return prefix + hex.EncodeToString(b)
}
