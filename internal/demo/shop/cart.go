package shop

import (
	"net/http"
	"slices"
	"sync"
)

// Cart limits, so that a client cannot grow the shop's memory without bound.
const (
	maxCarts    = 10_000
	maxQuantity = 99
)

// cartStore holds one cart per user id: product id → quantity.
type cartStore struct {
	mu    sync.Mutex
	carts map[int]map[int]int
}

func newCartStore() *cartStore { return &cartStore{carts: make(map[int]map[int]int)} }

// add adds qty of product to the user's cart and returns the line's new
// quantity.
func (c *cartStore) add(user, product, qty int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cart, ok := c.carts[user]
	if !ok {
		if len(c.carts) >= maxCarts {
			return 0, errorf(http.StatusServiceUnavailable, "too_many_carts", "the cart service is full")
		}
		cart = make(map[int]int)
		c.carts[user] = cart
	}
	if cart[product]+qty > maxQuantity {
		return 0, errorf(http.StatusBadRequest, "bad_quantity", "at most %d of one product per cart", maxQuantity)
	}
	cart[product] += qty
	return cart[product], nil
}

// lines returns a copy of the user's cart, sorted by product id.
func (c *cartStore) lines(user int) [][2]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][2]int, 0, len(c.carts[user]))
	for p, q := range c.carts[user] {
		out = append(out, [2]int{p, q})
	}
	slices.SortFunc(out, func(a, b [2]int) int { return a[0] - b[0] })
	return out
}

// clear empties the user's cart and reports how many lines it had.
func (c *cartStore) clear(user int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.carts[user])
	delete(c.carts, user)
	return n
}

// addItemRequest is the body of POST /cart/item/add/{userId}.
type addItemRequest struct {
	ProductID int `json:"product_id"`
	Quantity  int `json:"quantity"`
}

// CartLine is one line of a cart.
type CartLine struct {
	ProductID  int     `json:"product_id"`
	Name       string  `json:"name"`
	Quantity   int     `json:"quantity"`
	UnitPrice  float64 `json:"unit_price"`
	LineTotal  float64 `json:"line_total"`
	PriceCents int64   `json:"line_total_cents"`
}

// CartTotal is the answer to GET /cart/total/{userId}.
type CartTotal struct {
	UserID     int     `json:"user_id"`
	Items      int     `json:"items"`
	Total      float64 `json:"total"`
	TotalCents int64   `json:"total_cents"`
	Currency   string  `json:"currency"`
}

func (s *Shop) cartHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cart/item/add/{userId}", handle(s.addItem))
	mux.HandleFunc("GET /cart/items/{userId}", handle(s.cartItems))
	mux.HandleFunc("GET /cart/total/{userId}", handle(s.cartTotal))
	mux.HandleFunc("GET /cart/clear/{userId}", handle(s.clearCart))
	mux.HandleFunc("GET /healthz", healthz)
	return jsonErrors(mux)
}

func (s *Shop) addItem(w http.ResponseWriter, r *http.Request) error {
	user, err := pathInt(r, "userId")
	if err != nil {
		return err
	}
	var req addItemRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Quantity == 0 {
		req.Quantity = 1
	}
	if req.Quantity < 0 || req.Quantity > maxQuantity {
		return errorf(http.StatusBadRequest, "bad_quantity", "quantity must be between 1 and %d", maxQuantity)
	}
	p, ok := s.byID[req.ProductID]
	if !ok {
		return errorf(http.StatusNotFound, "product_not_found", "no product %d", req.ProductID)
	}
	qty, err := s.carts.add(user, p.ID, req.Quantity)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user_id": user, "product_id": p.ID, "quantity": qty})
	return nil
}

func (s *Shop) cartItems(w http.ResponseWriter, r *http.Request) error {
	user, err := pathInt(r, "userId")
	if err != nil {
		return err
	}
	lines := s.carts.lines(user)
	items := make([]CartLine, 0, len(lines))
	for _, l := range lines {
		p := s.byID[l[0]]
		cents := p.PriceCents * int64(l[1])
		items = append(items, CartLine{ProductID: p.ID, Name: p.Name, Quantity: l[1], UnitPrice: money(p.PriceCents), LineTotal: money(cents), PriceCents: cents})
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": user, "items": items})
	return nil
}

func (s *Shop) cartTotal(w http.ResponseWriter, r *http.Request) error {
	user, err := pathInt(r, "userId")
	if err != nil {
		return err
	}
	t := CartTotal{UserID: user, Currency: "USD"}
	for _, l := range s.carts.lines(user) {
		t.Items += l[1]
		t.TotalCents += s.byID[l[0]].PriceCents * int64(l[1])
	}
	t.Total = money(t.TotalCents)
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Shop) clearCart(w http.ResponseWriter, r *http.Request) error {
	user, err := pathInt(r, "userId")
	if err != nil {
		return err
	}
	n := s.carts.clear(user)
	writeJSON(w, http.StatusOK, map[string]any{"user_id": user, "cleared": true, "lines_removed": n})
	return nil
}
