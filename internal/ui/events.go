package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
)

// The event page: one transaction's layer-7 attributes, identity, TLS
// facts on both sides, findings and decision, and the stored JSON.

// maxTxnID bounds a txn_id in a URL.
const maxTxnID = 256

type eventData struct {
	Ev event.Event
	// Token is the hash of the token used: the verified identity's, or
	// the unverified bearer token's.
	Token         string
	TokenVerified bool
	Intercepted   bool
	Endpoint      string
	EndpointID    string
	Summary       string
	// ClientWeak and UpstreamWeak say what is weak about either side's
	// TLS (legacy version, non-AEAD cipher), "" when nothing is.
	ClientWeak, UpstreamWeak string
}

// txnIDParam is the {txn_id} path value, checked.
func txnIDParam(r *http.Request) (string, error) {
	id := r.PathValue("txn_id")
	if id == "" || len(id) > maxTxnID || strings.ContainsFunc(id, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return "", badParam("txn_id", "must be a transaction id (at most %d printable characters)", maxTxnID)
	}
	return id, nil
}

func (s *Server) eventPage(w http.ResponseWriter, r *http.Request) error {
	id, err := txnIDParam(r)
	if err != nil {
		return err
	}
	ev, err := s.o.Store.GetEvent(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("event")
	}
	if err != nil {
		return err
	}
	d := eventData{Ev: ev, Endpoint: ev.Request.Endpoint, Intercepted: ev.TLS != nil && ev.TLS.Intercepted}
	if d.Endpoint == "" {
		d.Endpoint = ev.Request.Path
	}
	if ev.Type == "" {
		d.EndpointID = store.EndpointID(ev.Destination.Host, ev.Request.Method, d.Endpoint)
	}
	switch {
	case ev.Identity != nil && ev.Identity.TokenID != "":
		d.Token, d.TokenVerified = ev.Identity.TokenID, true
	case ev.Request.TokenID != "":
		d.Token = ev.Request.TokenID
	}
	d.Summary = eventSummary(&ev, d.Intercepted)
	if ev.TLS != nil && ev.TLS.Version != "" {
		_, d.ClientWeak = risk.TLSWeakness(ev.TLS)
	}
	if ev.Destination.TLS != nil {
		_, d.UpstreamWeak = risk.TLSWeakness(ev.Destination.TLS)
	}
	return s.render(w, r, "event", d)
}

// eventSummary is one sentence a reader takes in first.
func eventSummary(ev *event.Event, intercepted bool) string {
	if ev.Type != "" {
		return "A record of type " + ev.Type + " (not a transaction)."
	}
	from := ev.Source.Workload
	if from == "" {
		from = ev.Source.IP
	}
	to := ev.Destination.Host
	if ev.Destination.Workload != "" {
		to = ev.Destination.Workload + " (" + ev.Destination.Host + ")"
	}
	var b strings.Builder
	b.WriteString(from + " called " + ev.Request.Method + " " + ev.Request.Path + " on " + to)
	switch t := ev.TLS; {
	case t == nil:
		b.WriteString(" in plaintext")
	case intercepted:
		b.WriteString(", intercepted by the " + ev.Placement + " (" + tlsName(cmpOr(t.Version, "?")) + " to the caller)")
	default:
		b.WriteString(" over " + tlsName(t.Version))
		if t.MTLS {
			b.WriteString(" with mutual TLS")
		}
	}
	if u := ev.Destination.TLS; u != nil {
		b.WriteString("; the upstream answered over " + tlsName(u.Version))
	}
	b.WriteString(": " + ev.Decision + ".")
	return b.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
