package shop

import (
	"net/http"
	"strconv"
	"strings"
)

// Catalog listing bounds.
const (
	defaultPageLimit = 10
	maxPageLimit     = 50
)

// productView is a product as the catalog serves it.
type productView struct {
	Product
	Price    float64 `json:"price"`
	Currency string  `json:"currency"`
	ImageURL string  `json:"image_url"`
}

func viewOf(p Product) productView {
	return productView{Product: p, Price: money(p.PriceCents), Currency: "USD", ImageURL: "/static/img/" + strings.ToLower(p.SKU) + ".jpg"}
}

// productPage is the answer to GET /products.
type productPage struct {
	Items    []productView `json:"items"`
	Page     int           `json:"page"`
	Limit    int           `json:"limit"`
	Total    int           `json:"total"`
	Category string        `json:"category,omitempty"`
}

func (s *Shop) catalogHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products", handle(s.listProducts))
	mux.HandleFunc("GET /products/{id}", handle(s.getProduct))
	mux.HandleFunc("GET /healthz", healthz)
	return jsonErrors(mux)
}

// listProducts serves GET /products?category=&page=&limit=.
func (s *Shop) listProducts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := queryInt(q.Get("page"), 1, 1, 1_000_000)
	if err != nil {
		return errorf(http.StatusBadRequest, "bad_parameter", "page: %v", err)
	}
	limit, err := queryInt(q.Get("limit"), defaultPageLimit, 1, maxPageLimit)
	if err != nil {
		return errorf(http.StatusBadRequest, "bad_parameter", "limit: %v", err)
	}
	category := strings.TrimSpace(q.Get("category"))
	matched := make([]Product, 0, len(s.products))
	for _, p := range s.products {
		if category == "" || strings.EqualFold(p.Category, category) {
			matched = append(matched, p)
		}
	}
	out := productPage{Items: []productView{}, Page: page, Limit: limit, Total: len(matched), Category: category}
	if from := (page - 1) * limit; from < len(matched) {
		to := min(from+limit, len(matched))
		for _, p := range matched[from:to] {
			out.Items = append(out.Items, viewOf(p))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getProduct serves GET /products/{id}.
func (s *Shop) getProduct(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return errorf(http.StatusNotFound, "product_not_found", "no product %q", r.PathValue("id"))
	}
	p, ok := s.byID[id]
	if !ok {
		return errorf(http.StatusNotFound, "product_not_found", "no product %d", id)
	}
	writeJSON(w, http.StatusOK, viewOf(p))
	return nil
}

// queryInt parses an optional integer query parameter within [lo, hi].
func queryInt(raw string, def, lo, hi int) (int, error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "bad_parameter", "%q is not an integer", raw)
	}
	if n < lo || n > hi {
		return 0, errorf(http.StatusBadRequest, "bad_parameter", "%d is outside [%d, %d]", n, lo, hi)
	}
	return n, nil
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
