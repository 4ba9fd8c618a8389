package server

import (
	"fmt"
	"net"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/egress"
)

// bindEgress binds transport.egress.listen and prepares the egress server
// (loading the CA that mints intercepted hosts' leaves), so that a bad CA
// fails New rather than Serve.
func (g *Gateway) bindEgress(cfg *config.Config) error {
	e := cfg.Transport.Egress
	if e.Listen == "" {
		return nil
	}
	es, err := egress.New(egress.Options{Config: g.Config, Handler: g.Handler, Events: g.Events, Log: g.log, Placement: g.opts.Placement,
		Dial: g.opts.EgressDial})
	if err != nil {
		return err
	}
	if g.lnEgress, err = net.Listen("tcp", e.Listen); err != nil {
		return fmt.Errorf("transport.egress.listen: %w", err)
	}
	g.egress = es
	g.Metrics.CounterFunc("vigil_egress_rejected_total", "Egress connections closed at once: transport.egress.max_connections reached.",
		func() float64 { return float64(es.Rejected()) })
	if m := es.Minter(); m != nil {
		g.Metrics.GaugeFunc("vigil_egress_leaves_cached", "Minted leaf certificates in the egress cache.",
			func() float64 { n, _ := m.Stats(); return float64(n) })
		g.Metrics.CounterFunc("vigil_egress_leaves_minted_total", "Leaf certificates minted for intercepted hosts.",
			func() float64 { _, n := m.Stats(); return float64(n) })
	}
	g.addrs["egress"] = g.lnEgress.Addr().String()
	return nil
}

// serveEgress serves the egress listener; its intercepted connections are
// served by an http.Server drained with the others on shutdown.
func (g *Gateway) serveEgress(lim config.Limits) {
	if g.egress == nil {
		return
	}
	srv := newHTTPServer(nil, lim, g.log, false)
	g.servers = append(g.servers, srv)
	go func() { g.errc <- g.egress.Serve(g.lnEgress, srv) }()
}

// closeEgress stops accepting egress connections and closes the tunnels;
// intercepted requests in flight drain with the http.Server.
func (g *Gateway) closeEgress() {
	if g.egress != nil {
		g.egress.Close()
	}
	if g.lnEgress != nil {
		_ = g.lnEgress.Close()
	}
}

// checkEgress loads the egress CA, for vigil validate.
func checkEgress(cfg *config.Config) error {
	e := cfg.Transport.Egress
	if e.Listen == "" || e.CADir == "" {
		return nil
	}
	if _, err := egress.NewMinter(e.CADir, e.LeafTTL, 1); err != nil {
		return cfg.Errorf("transport.egress.ca_dir", "%v", err)
	}
	return nil
}

// EgressMinter is the egress listener's leaf minter (nil without
// transport.egress.ca_dir).
func (g *Gateway) EgressMinter() *egress.Minter {
	if g.egress == nil {
		return nil
	}
	return g.egress.Minter()
}
