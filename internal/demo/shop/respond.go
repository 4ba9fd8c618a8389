package shop

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// apiError is the JSON error every shop service writes:
// {"error":{"code":"...","message":"..."}}, the same shape as Vigil's REST API.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeJSON writes v as the JSON response body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError is the one place a shop service turns an error into a response.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(http.StatusInternalServerError, "internal", "internal error")
	}
	writeJSON(w, ae.Status, map[string]*apiError{"error": ae})
}

// handle adapts a handler that returns an error.
func handle(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	}
}

// jsonErrors makes the mux's own 404 and 405 answers JSON errors too.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			w = &muxErrorWriter{ResponseWriter: w, r: r}
		}
		mux.ServeHTTP(w, r)
	})
}

// muxErrorWriter replaces a plain-text 404 or 405 with the JSON error.
type muxErrorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		w.replaced = true
		writeError(w.ResponseWriter, errorf(code, "not_found", "no route for %s %s", w.r.Method, w.r.URL.Path))
	case http.StatusMethodNotAllowed:
		w.replaced = true
		writeError(w.ResponseWriter, errorf(code, "method_not_allowed", "%s is not allowed on %s", w.r.Method, w.r.URL.Path))
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *muxErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// decodeJSON reads one JSON value from the request body into v, reading at
// most MaxBodyBytes.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength > MaxBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than %d bytes", MaxBodyBytes)
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than %d bytes", MaxBodyBytes)
		}
		if errors.Is(err, io.EOF) {
			return errorf(http.StatusBadRequest, "bad_json", "request body is empty")
		}
		return errorf(http.StatusBadRequest, "bad_json", "request body is not valid JSON: %v", err)
	}
	return nil
}

// pathInt parses a positive integer path parameter.
func pathInt(r *http.Request, name string) (int, error) {
	raw := r.PathValue(name)
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return 0, errorf(http.StatusBadRequest, "bad_parameter", "%s must be a positive integer, got %q", name, raw)
	}
	return n, nil
}

// money formats cents as currency units for JSON ("12.99" → 12.99).
func money(cents int64) float64 { return float64(cents) / 100 }
