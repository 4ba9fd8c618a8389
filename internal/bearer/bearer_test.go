package bearer

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequire(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name, token, header string
		want                int
	}{
		{"right token", "s3cret", "Bearer s3cret", http.StatusTeapot},
		{"scheme in lower case", "s3cret", "bearer s3cret", http.StatusTeapot},
		{"wrong token", "s3cret", "Bearer s3cre", http.StatusUnauthorized},
		{"longer token", "s3cret", "Bearer s3cretX", http.StatusUnauthorized},
		{"no header", "s3cret", "", http.StatusUnauthorized},
		{"basic scheme", "s3cret", "Basic czNjcmV0", http.StatusUnauthorized},
		{"bare scheme", "s3cret", "Bearer ", http.StatusUnauthorized},
		{"no token configured admits nobody", "", "Bearer ", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/debug/pprof/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			New(tc.token).Require(ok).ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}
