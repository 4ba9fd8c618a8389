package token

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: Verify never panics, and accepts nothing but the tokens the
// test key signed (the seeds). Any other accepted input is a forgery.
func FuzzVerify(f *testing.F) {
	k := keys()
	v := fileVerifier(f, nil)
	signed := map[string]bool{}
	for _, s := range []*signer{k.ec1, k.rsa1, k.ed1} {
		raw := tok(s, issMain, nil)
		signed[raw] = true
		f.Add(raw)
	}
	hs := tok(k.hs1, issMixed, nil)
	signed[hs] = true
	f.Add(hs)
	valid := tok(k.ec1, issMain, nil)
	p := strings.Split(valid, ".")
	for _, s := range []string{
		"", ".", "..", "...", "....", "a.b.c", valid + "=", p[0] + "." + p[1] + ".",
		enc(`{"alg":"none"}`) + "." + p[1] + ".",
		enc(`{"alg":"HS256","kid":"rsa1"}`) + "." + p[1] + "." + p[2],
		enc(`{"alg":"ES256","kid":"ec1","alg":"ES256"}`) + "." + p[1] + "." + p[2],
		enc(`{"alg":"ES256","crit":["b64"],"b64":false}`) + "." + `{"sub":"x"}` + "." + p[2],
		enc(`{"alg":"ES256","jku":"http://127.0.0.1:1/"}`) + "." + p[1] + "." + p[2],
		enc(`{"alg":"ES256","kid":"ec1"}`) + "." + enc(`{"a":[[[[[[[[{}]]]]]]]]}`) + "." + p[2],
		enc(`{"alg":"ES256","kid":"../../etc/passwd"}`) + "." + p[1] + "." + p[2],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		pr, err := v.Verify(ctx, raw)
		if err == nil && !signed[raw] {
			t.Fatalf("accepted a token the test keys did not sign: %q -> %+v", raw, pr)
		}
		if err != nil && pr != nil {
			t.Fatal("a Principal came with an error")
		}
		// The same through a request.
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{"Bearer " + raw}
		if pr, err := v.FromRequest(ctx, r); err == nil && pr != nil && !signed[strings.Trim(raw, " ")] {
			t.Fatalf("FromRequest accepted %q", raw)
		}
	})
}
