package token

import (
	"context"
	"net/http/httptest"
	"testing"
)

// BenchmarkVerifyWarm is the hot path: a token already verified.
func BenchmarkVerifyWarm(b *testing.B) {
	v := fileVerifier(b, nil)
	raw := tok(keys().ec1, issMain, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFromRequestWarm adds reading the Authorization header.
func BenchmarkFromRequestWarm(b *testing.B) {
	v := fileVerifier(b, nil)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok(keys().ec1, issMain, nil))
	ctx := context.Background()
	if _, err := v.FromRequest(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.FromRequest(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyWarmParallel: the cache under concurrent readers.
func BenchmarkVerifyWarmParallel(b *testing.B) {
	v := fileVerifier(b, nil)
	raw := tok(keys().ec1, issMain, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyCold is a token seen for the first time (the cache is
// bypassed by calling the cold path directly).
func BenchmarkVerifyCold(b *testing.B) {
	k := keys()
	for _, c := range []struct {
		name string
		s    *signer
	}{{"ES256", k.ec1}, {"RS256", k.rsa1}, {"EdDSA", k.ed1}} {
		b.Run(c.name, func(b *testing.B) {
			v := fileVerifier(b, nil)
			raw := tok(c.s, issMain, nil)
			ctx := context.Background()
			var h [32]byte
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := v.verify(ctx, raw, &h, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
