package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// albedoOK is the body of albedo's default answer.
const albedoOK = "albedo: ok"

// albedo is the backend the CRS regression suite is written against
// (github.com/coreruleset/albedo): POST /reflect answers with the status,
// headers and body the JSON request asks for (the response-phase tests put
// their leaking page there); every other path answers 200 with a short text
// body, whatever the method.
func newAlbedo(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if r.URL.Path != "/reflect" {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, albedoOK)
			return
		}
		var spec struct {
			Status      int               `json:"status"`
			Headers     map[string]string `json:"headers"`
			Body        string            `json:"body"`
			EncodedBody string            `json:"encodedBody"`
		}
		if err != nil || json.Unmarshal(body, &spec) != nil {
			http.Error(w, "Invalid JSON in request body", http.StatusBadRequest)
			return
		}
		if spec.Status != 0 && (spec.Status < 100 || spec.Status >= 600) {
			http.Error(w, fmt.Sprintf("Invalid status code: %d", spec.Status), http.StatusBadRequest)
			return
		}
		out := []byte(spec.Body)
		if spec.Body == "" && spec.EncodedBody != "" {
			if out, err = base64.StdEncoding.DecodeString(spec.EncodedBody); err != nil {
				http.Error(w, "invalid base64 encoding of response body", http.StatusBadRequest)
				return
			}
		}
		for k, v := range spec.Headers {
			w.Header().Add(k, v)
		}
		if spec.Status == 0 {
			spec.Status = http.StatusOK
		}
		w.WriteHeader(spec.Status)
		w.Write(out)
	}))
	t.Cleanup(s.Close)
	return s
}
