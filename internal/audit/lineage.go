package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// Hop is one entry of a lineage: the record, where it is in the log, and
// how deep in the call chain (0: the first hop).
type Hop struct {
	Index uint64 `json:"index"`
	Depth int    `json:"depth"`
	// SignedBy is "hop" when the data plane that handled the hop signed
	// its record, "control" when the control plane did (Record.Signer is
	// the key, Record.HopSignature says why the hop's is not used).
	SignedBy string `json:"signed_by"`
	Record   Record `json:"record"`
}

// Lineage returns every hop of the transaction txnID in call order: the
// records linked to it by parent_txn_id and trace_id, as a call tree
// walked depth first (a caller before its callees, callees of one caller
// by time). The records are read as stored; Verify checks them.
func Lineage(ctx context.Context, st store.Store, txnID string) ([]Hop, error) {
	es, err := st.AuditLineage(ctx, txnID)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	hops := make([]Hop, 0, len(es))
	byTxn := map[string]int{}
	var times []time.Time
	for _, e := range es {
		var s Signed
		var r Record
		if json.Unmarshal(e.Data, &s) != nil || json.Unmarshal(s.Record, &r) != nil {
			return nil, fmt.Errorf("audit: entry %d is not a signed record", e.Index)
		}
		if _, dup := byTxn[r.TxnID]; !dup && r.TxnID != "" {
			byTxn[r.TxnID] = len(hops)
		}
		by := SignedByControl
		if r.SignedBy == SignedByHop {
			by = SignedByHop
		}
		hops = append(hops, Hop{Index: e.Index, SignedBy: by, Record: r})
		times = append(times, e.Time)
	}
	children := map[int][]int{}
	var roots []int
	for i, h := range hops {
		if p, ok := byTxn[h.Record.ParentTxnID]; ok && p != i && h.Record.ParentTxnID != "" {
			children[p] = append(children[p], i)
		} else {
			roots = append(roots, i)
		}
	}
	byTime := func(a, b int) int {
		if c := times[a].Compare(times[b]); c != 0 {
			return c
		}
		return cmpU64(hops[a].Index, hops[b].Index)
	}
	slices.SortFunc(roots, byTime)
	out := make([]Hop, 0, len(hops))
	seen := make([]bool, len(hops))
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if seen[i] {
			return
		}
		seen[i] = true
		h := hops[i]
		h.Depth = depth
		out = append(out, h)
		cs := children[i]
		slices.SortFunc(cs, byTime)
		for _, c := range cs {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for i := range hops { // a parent cycle has no root: keep its hops anyway
		walk(i, 0)
	}
	return out, nil
}
