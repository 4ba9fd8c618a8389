package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/audit"
)

// TestAuditWitnessRoutes: a remote witness co-signs over the API — the
// checkpoint, a consistency proof from the one it co-signed before, and
// the co-signed note posted back — and verify finds the co-signature.
func TestAuditWitnessRoutes(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	k, _, err := audit.GenerateKey("vigil.audit/api")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := audit.New(st, k, "vigil.audit/api")
	base := serve(t, &Server{Store: st, Audit: l, Token: testToken})
	keys := []audit.PublicKey{k.Public()}
	if _, err := l.Append(ctx, []audit.Record{audit.ConfigRecord(0, nil, time.Now())}); err != nil {
		t.Fatal(err)
	}
	first, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs := []audit.Record{audit.ConfigRecord(1, []byte("a"), time.Now()), audit.ConfigRecord(2, []byte("b"), time.Now())}
	if _, err := l.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	w, _, err := audit.GenerateKey("witness.example/api")
	if err != nil {
		t.Fatal(err)
	}
	overAPI := func(_ context.Context, from, to uint64) ([][]byte, error) {
		r := get(t, fmt.Sprintf("%s/api/v1/audit/consistency?from=%d&to=%d", base, from, to))
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("consistency: %d %s", r.status, r.body)
		}
		var c consistencyResponse
		if err := json.Unmarshal(r.body, &c); err != nil {
			return nil, err
		}
		return c.Hashes, nil
	}
	r := get(t, base+"/api/v1/audit/checkpoint")
	msg, c, err := audit.Cosign(ctx, w, string(r.body), keys, "vigil.audit/api", &audit.Seen{Size: first.Size, Root: first.Root}, overAPI)
	if err != nil || c.Size != 3 {
		t.Fatalf("cosign over the API: size %d, %v", c.Size, err)
	}
	post := func(ct, body string) reply {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/audit/checkpoint/cosigned", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, header: resp.Header, body: b}
	}
	tests := []struct {
		name       string
		do         func() reply
		wantStatus int
		wantCode   string
	}{
		{"co-signed note stored", func() reply { return post("text/plain", msg) }, http.StatusCreated, ""},
		{"the log's own note", func() reply { return post("text/plain", string(r.body)) }, http.StatusUnprocessableEntity, "bad_checkpoint"},
		{"not a note", func() reply { return post("text/plain", "hello") }, http.StatusUnprocessableEntity, "bad_checkpoint"},
		{"JSON", func() reply { return post("application/json", "{}") }, http.StatusUnsupportedMediaType, "bad_content_type"},
		{"too large", func() reply { return post("text/plain", strings.Repeat("x", maxCosignedBody+1)) }, http.StatusRequestEntityTooLarge, "too_large"},
		{"consistency from 0", func() reply { return get(t, base+"/api/v1/audit/consistency?from=0&to=3") }, http.StatusBadRequest, "bad_range"},
		{"consistency backwards", func() reply { return get(t, base+"/api/v1/audit/consistency?from=3&to=1") }, http.StatusBadRequest, "bad_range"},
		{"consistency beyond the log", func() reply { return get(t, base+"/api/v1/audit/consistency?from=1&to=99") }, http.StatusNotFound, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.do()
			if got.status != tc.wantStatus {
				t.Fatalf("%d %s, want %d", got.status, got.body, tc.wantStatus)
			}
			if tc.wantCode != "" {
				if code := got.errCode(t); code != tc.wantCode {
					t.Fatalf("code %q, want %q", code, tc.wantCode)
				}
			}
		})
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Origin: "vigil.audit/api", Keys: keys, Witnesses: []audit.PublicKey{w.Public()}})
	if err != nil || !rep.OK() || rep.Witnessed[w.ID] != 3 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestAuditWitnessRoutesWithoutLog(t *testing.T) {
	base := serve(t, &Server{Store: newStore(t), Token: testToken})
	if r := get(t, base+"/api/v1/audit/consistency?from=1&to=2"); r.status != http.StatusNotImplemented || r.errCode(t) != "no_audit" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
