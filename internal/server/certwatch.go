package server

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/tlsconf"
)

// certCheckEvery is how often a listener's certificate expiry is looked at.
const certCheckEvery = time.Hour

// watchCertificate exports the expiry of the certificate a listener serves
// (vigil_tls_certificate_expiry_timestamp_seconds) and raises an alert
// event, certificate_expiry, once a day while it expires soon
// (tlsconf.ExpiresSoon): a file certificate nobody renewed, or an SVID
// whose renewal keeps failing.
func (g *Gateway) watchCertificate(ctx context.Context, tc *tls.Config, name string) {
	g.Metrics.GaugeFunc("vigil_tls_certificate_expiry_timestamp_seconds", "When the certificate the https listener serves expires (unix seconds).",
		func() float64 {
			na, _, ok := tlsconf.Expiry(tc)
			if !ok {
				return 0
			}
			return float64(na.Unix())
		})
	go func() {
		var last time.Time
		t := time.NewTicker(certCheckEvery)
		defer t.Stop()
		for {
			if na, life, ok := tlsconf.Expiry(tc); ok && tlsconf.ExpiresSoon(na, life, time.Now()) && time.Since(last) > 24*time.Hour {
				last = time.Now()
				ev := event.Get()
				ev.Type, ev.TxnID, ev.Time = "alert", "alert-cert-"+name+"-"+na.UTC().Format("20060102T150405"), time.Now().UTC()
				ev.Placement, ev.Decision = g.opts.Placement, event.DecisionAllow
				ev.Alert = &event.Alert{Kind: "certificate_expiry", Host: name, Detail: "the certificate expires at " + na.UTC().Format(time.RFC3339)}
				g.log.Warn("TLS certificate expires soon", "listener", name, "not_after", na)
				g.Events.Enqueue(ev) // the queue owns ev, dropped or not
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}
