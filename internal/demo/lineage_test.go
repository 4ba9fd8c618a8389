package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/store"
)

const lineageToken = "vgl_demo_lineage"

// apiGet decodes GET admin+path (the admin token) into out.
func apiGet(ctx context.Context, admin, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+lineageToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

// checkoutLineage waits for a checkout the gateway answered 201 and for
// its lineage to hold the whole call chain (the cart's total, the charge,
// the cart cleared, each seen by both sidecars where they sit on the
// path), and returns the hops as GET /api/v1/audit/lineage/{txn_id}
// serves them.
func checkoutLineage(ctx context.Context, admin string) ([]audit.Hop, string, error) {
	var txn string
	for ctx.Err() == nil {
		if txn == "" {
			var page struct {
				Items []struct {
					TxnID     string `json:"txn_id"`
					Placement string `json:"placement"`
					Request   struct{ Method, Path string }
					Response  struct{ Status int }
				} `json:"items"`
			}
			if _, err := apiGet(ctx, admin, "/api/v1/events?limit=500", &page); err == nil {
				for _, ev := range page.Items {
					if ev.Placement == "gateway" && ev.Request.Method == "POST" && strings.HasPrefix(ev.Request.Path, "/order/add/") &&
						ev.Response.Status == http.StatusCreated {
						txn = ev.TxnID
						break
					}
				}
			}
		}
		if txn != "" {
			var lin struct {
				Hops []audit.Hop `json:"hops"`
			}
			if code, err := apiGet(ctx, admin, "/api/v1/audit/lineage/"+url.PathEscape(txn), &lin); err == nil && code == http.StatusOK &&
				len(lin.Hops) >= 6 {
				return lin.Hops, txn, nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil, txn, fmt.Errorf("no complete checkout lineage (checkout %q)", txn)
}

// TestCheckoutLineage runs the demo and follows one checkout through the
// audit API: the gateway, the order sidecar's calls to the cart (and the
// cart sidecar's side of them) and to the payment provider through the
// egress listener, in call order, each record signed by the data plane
// that handled it; the log, kept after the run, verifies.
func TestCheckoutLineage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for 8 s")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	type found struct {
		hops []audit.Hop
		txn  string
		err  error
	}
	got := make(chan found, 1)
	res, err := Run(ctx, Options{Duration: 8 * time.Second, Shoppers: 6, AttackRate: -1, Seed: 11, Every: time.Second,
		Token: lineageToken, KeepDir: true, Out: &syncBuffer{},
		Ready: func(_, admin string) {
			go func() {
				wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
				defer wcancel()
				hops, txn, err := checkoutLineage(wctx, admin)
				got <- found{hops, txn, err}
			}()
		}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(res.Dir) })
	f := <-got
	if f.err != nil {
		t.Fatal(f.err)
	}
	keyOf := func(sub string) string {
		k, err := audit.LoadKey(filepath.Join(res.Dir, sub, audit.KeyFile))
		if err != nil {
			t.Fatalf("%s key: %v", sub, err)
		}
		return k.ID
	}
	gwKey, orderKey, cartKey := keyOf("data"), keyOf("order-sidecar"), keyOf("cart-sidecar")

	// The call chain, in order: what each step is, and who must sign it.
	steps := []struct {
		what   string
		match  func(r audit.Record) bool
		signer string
	}{
		{"the gateway's checkout", func(r audit.Record) bool {
			return r.Placement == "gateway" && r.Method == "POST" && strings.HasPrefix(r.Endpoint, "/order/add/")
		}, gwKey},
		{"the order sidecar's call for the cart's total", func(r audit.Record) bool {
			return r.Placement == "sidecar" && r.Method == "GET" && destHost(r) == cartHost && strings.HasPrefix(r.Endpoint, "/cart/total/") && !fromOrder(r)
		}, orderKey},
		{"the cart sidecar's side of it", func(r audit.Record) bool {
			return r.Placement == "sidecar" && r.Method == "GET" && strings.HasPrefix(r.Endpoint, "/cart/total/") && fromOrder(r)
		}, cartKey},
		{"the charge, intercepted on the way out", func(r audit.Record) bool {
			return r.Method == "POST" && strings.HasPrefix(r.Endpoint, "/v1/charges") && destHost(r) == paymentHost
		}, orderKey},
		{"the order sidecar's call to clear the cart", func(r audit.Record) bool {
			return r.Placement == "sidecar" && destHost(r) == cartHost && strings.HasPrefix(r.Endpoint, "/cart/clear/") && !fromOrder(r)
		}, orderKey},
		{"the cart sidecar's side of it", func(r audit.Record) bool {
			return r.Placement == "sidecar" && strings.HasPrefix(r.Endpoint, "/cart/clear/") && fromOrder(r)
		}, cartKey},
	}
	var trail []string
	for _, h := range f.hops {
		r := h.Record
		trail = append(trail, fmt.Sprintf("%d %s %s %s %s from-order=%v signer=%s signed_by=%s", h.Depth, r.Placement, r.Method, destHost(r),
			r.Endpoint, fromOrder(r), r.Signer, h.SignedBy))
	}
	next := 0
	for _, h := range f.hops {
		if h.Record.TraceID != f.hops[0].Record.TraceID {
			t.Errorf("hop %s of another trace %s", h.Record.TxnID, h.Record.TraceID)
		}
		if h.SignedBy != audit.SignedByHop || h.Record.SignedBy != audit.SignedByHop {
			t.Errorf("hop %s %s %s not signed by its hop (signed_by %s, hop_signature %q)", h.Record.Placement, h.Record.Method,
				h.Record.Endpoint, h.SignedBy, h.Record.HopSignature)
		}
		if next < len(steps) && steps[next].match(h.Record) {
			if h.Record.Signer != steps[next].signer {
				t.Errorf("%s signed by key %s, want %s", steps[next].what, h.Record.Signer, steps[next].signer)
			}
			next++
		}
	}
	if next < len(steps) {
		t.Fatalf("lineage of checkout %s lacks %s (or has it out of order):\n%s", f.txn, steps[next].what, strings.Join(trail, "\n"))
	}

	// Every signature in the log checks out, the hops' keys registered by
	// the control plane's (docs/audit.md).
	st, err := store.Open(ctx, "sqlite", filepath.Join(res.Dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ck, err := audit.LoadKey(filepath.Join(res.Dir, "data", audit.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []audit.PublicKey{ck.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.HopSigned == 0 || rep.HopKeys[orderKey] == "" || rep.HopKeys[cartKey] == "" {
		t.Fatalf("the demo's audit log: %+v", rep)
	}
}

// fromOrder reports whether the hop's caller is the order service by its
// SVID: the cart sidecar's side of an east-west call (mutual TLS).
func fromOrder(r audit.Record) bool {
	return r.Source != nil && r.Source.Workload == "spiffe://"+meshDomain+"/order"
}

func destHost(r audit.Record) string {
	if r.Destination == nil {
		return ""
	}
	h := r.Destination.Host
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return h
}
