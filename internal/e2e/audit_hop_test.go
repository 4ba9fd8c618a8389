package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/control"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

// TestHopSignedAudit: two gateways, each with its own data_dir, report
// over NATS to a control plane keeping the audit log. Every stored record
// is signed by the key of the gateway that handled the request (generated
// into its data_dir/audit.key, mode 0600), each gateway's key registered
// in the log before its first record; the log verifies with the control
// plane's key alone (keys registered on first use) and with the gateways'
// keys pinned; lineage names the hop's key.
func TestHopSignedAudit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := startNATS(t, 0, t.TempDir())
	defer ns.Shutdown()
	natsURL := ns.ClientURL()
	up := fastUpstream(t)

	dsn, dir := storetest.SQLite(t)
	st, err := store.Open(ctx, dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := bus.Open(ctx, natsURL, t.TempDir(), bus.Options{AckWait: 2 * time.Second, Name: "control-audit-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ccfg := &config.Config{DataDir: t.TempDir(), Audit: config.Audit{Origin: config.DefaultAuditOrigin}}
	lg, err := control.OpenAudit(st, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := control.New(control.Options{Store: st, Bus: b, Audit: lg, AuditCheckpointEvery: 100 * time.Millisecond,
		FlushEvery: 200 * time.Millisecond, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	pdone := make(chan struct{})
	go func() { defer close(pdone); _ = p.Run(ctx) }()
	defer func() { cancel(); <-pdone }()

	g1 := startDataPlane(t, up.URL, natsURL, "discovery: {enabled: false}\naudit: {sign_hops: true}")
	// g2 signs by default: it reports over nats:// to a control plane
	// in another process.
	g2 := startDataPlane(t, up.URL, natsURL, "discovery: {enabled: false}")
	gws := map[string]string{} // key id -> gateway address
	for _, g := range []struct {
		dp interface{ Addr(string) string }
		s  *audit.HopSigner
	}{{g1.G, g1.Signer}, {g2.G, g2.Signer}} {
		if g.s == nil {
			t.Fatal("a data plane reporting over the bus does not sign")
		}
		gws[g.s.Key().ID] = g.dp.Addr("http")
	}
	if len(gws) != 2 || gws[lg.Key().ID] != "" {
		t.Fatalf("gateway keys not distinct from each other and the control plane's: %v", gws)
	}
	fi, err := os.Stat(filepath.Join(g1.G.Config().DataDir, audit.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("gateway key file: %v %v", fi, err)
	}

	// txn id -> key id of the gateway that handled it. Odd paths: an
	// invalid UTF-8 byte once decoded, a secret the gateway redacts.
	want := map[string]string{}
	paths := []string{"/items/1", "/items/%FF%FE", "/items/2?api_key=sk_live_0123456789abcdef0123", "/items/3/%2e%2e/4"}
	for i := range 40 {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		resp, err := http.Get("http://" + g.G.Addr("http") + paths[i%len(paths)])
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want[resp.Header.Get("Vigil-Txn")] = g.Signer.Key().ID
	}
	waitFor(t, 20*time.Second, func() bool {
		size, err := lg.Size(ctx)
		return err == nil && size >= uint64(len(want)+2)
	}, "the audit log did not get every record")

	es, err := st.ListAuditEntries(ctx, 0, store.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]uint64{}
	for _, e := range es {
		var s audit.Signed
		var r audit.Record
		if json.Unmarshal(e.Data, &s) != nil || json.Unmarshal(s.Record, &r) != nil {
			t.Fatalf("entry %d: %s", e.Index, e.Data)
		}
		switch r.Kind {
		case audit.KindKey:
			registered[r.RegisteredKey.ID] = e.Index
		case audit.KindTransaction:
			k, ok := want[r.TxnID]
			if !ok {
				t.Fatalf("entry %d: unexpected %s", e.Index, s.Record)
			}
			if r.Signer != k || r.SignedBy != audit.SignedByHop || r.HopSignature != "" {
				t.Fatalf("entry %d (%s) not signed by its gateway's key %s: %s", e.Index, r.TxnID, k, s.Record)
			}
			if at, ok := registered[k]; !ok || at > e.Index {
				t.Fatalf("entry %d signed by key %s before the key was registered", e.Index, k)
			}
			delete(want, r.TxnID)
		}
	}
	if len(want) != 0 || len(registered) != 2 {
		t.Fatalf("records missing for %v; keys registered %v", want, registered)
	}
	if _, err := lg.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Origin: config.DefaultAuditOrigin, Keys: []audit.PublicKey{lg.Key().Public()}})
	if err != nil || !rep.OK() || rep.HopSigned != 40 || len(rep.HopKeys) != 2 {
		t.Fatalf("verify (trust on first use): %v %+v", err, rep)
	}
	pinned := []audit.PublicKey{lg.Key().Public(), g1.Signer.Key().Public(), g2.Signer.Key().Public()}
	if rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: pinned, RequirePinned: true}); err != nil || !rep.OK() {
		t.Fatalf("verify (pinned): %v %+v", err, rep)
	}
	if rep, _ := audit.Verify(ctx, st, audit.VerifyOptions{Keys: pinned[:2], RequirePinned: true}); rep.OK() {
		t.Fatal("verify with one gateway key unpinned passed under RequirePinned")
	}
	var txn string
	for _, e := range es {
		if e.Kind == audit.KindTransaction {
			txn = e.TxnID
			break
		}
	}
	hops, err := lg.Lineage(ctx, txn)
	if err != nil || len(hops) == 0 || hops[0].SignedBy != audit.SignedByHop || gws[hops[0].Record.Signer] == "" {
		t.Fatalf("lineage of %s: %v %+v", txn, err, hops)
	}
}
