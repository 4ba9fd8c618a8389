package shop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// OrderRequest is the body of POST /order/add/{userId}.
type OrderRequest struct {
	Items           []addItemRequest `json:"items"`
	ShippingAddress Address          `json:"shipping_address"`
	Payment         Card             `json:"payment"`
	Email           string           `json:"email,omitempty"`
	Note            string           `json:"note,omitempty"`
}

// OrderResponse is the answer to a successful order.
type OrderResponse struct {
	OrderID         string  `json:"order_id"`
	UserID          int     `json:"user_id"`
	Status          string  `json:"status"`
	Items           int     `json:"items"`
	Total           float64 `json:"total"`
	TotalCents      int64   `json:"total_cents"`
	Currency        string  `json:"currency"`
	ChargeID        string  `json:"charge_id"`
	CardLast4       string  `json:"card_last4"`
	ShippingAddress Address `json:"shipping_address"`
}

func (s *Shop) orderHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /order/add/{userId}", handle(s.addOrder))
	mux.HandleFunc("GET /healthz", healthz)
	return jsonErrors(mux)
}

// addOrder checks out the user's cart: read the total from the cart service,
// charge the card at the payment provider, clear the cart.
func (s *Shop) addOrder(w http.ResponseWriter, r *http.Request) error {
	user, err := pathInt(r, "userId")
	if err != nil {
		return err
	}
	if _, err := s.authorize(r, user, "order"); err != nil {
		return err
	}
	var req OrderRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ShippingAddress.Street == "" || req.ShippingAddress.City == "" || req.ShippingAddress.Country == "" {
		return errorf(http.StatusBadRequest, "bad_address", "shipping_address needs street, city and country")
	}
	if err := validCard(req.Payment, time.Now()); err != nil {
		return err
	}
	eg := s.currentEgress()
	ctx := r.Context()

	var total CartTotal
	if err := s.call(ctx, r, eg, http.MethodGet, eg.CartURL+"/cart/total/"+strconv.Itoa(user), nil, "", &total); err != nil {
		return errorf(http.StatusBadGateway, "cart_unavailable", "cart service: %v", err)
	}
	if total.TotalCents <= 0 {
		return errorf(http.StatusConflict, "cart_empty", "the cart of user %d is empty", user)
	}

	orderID := randomID("ord_", 8)
	charge := chargeRequest{
		AmountCents: total.TotalCents,
		Currency:    "usd",
		Source:      req.Payment,
		Description: "Vigil demo shop order " + orderID,
		Metadata:    map[string]string{"order_id": orderID, "user_id": strconv.Itoa(user)},
	}
	var paid chargeResponse
	if err := s.call(ctx, r, eg, http.MethodPost, eg.PaymentURL+"/v1/charges", charge, "Bearer "+s.PaymentKey, &paid); err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusPaymentRequired {
			return errorf(http.StatusPaymentRequired, "payment_declined", "the card was declined")
		}
		return errorf(http.StatusBadGateway, "payment_unavailable", "payment provider: %v", err)
	}

	if err := s.call(ctx, r, eg, http.MethodGet, eg.CartURL+"/cart/clear/"+strconv.Itoa(user), nil, "", nil); err != nil {
		// The card is charged: the order stands, the cart is stale.
		s.log.Warn("shop: order placed but cart not cleared", "order_id", orderID, "user_id", user, "err", err)
	}
	writeJSON(w, http.StatusCreated, OrderResponse{
		OrderID: orderID, UserID: user, Status: "paid", Items: total.Items,
		Total: money(total.TotalCents), TotalCents: total.TotalCents, Currency: "USD",
		ChargeID: paid.ID, CardLast4: paid.Card.Last4, ShippingAddress: req.ShippingAddress,
	})
	return nil
}

// statusError is a non-2xx answer from a service the order service called.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// call makes one outbound JSON call and decodes a 2xx answer into out (when
// out is not nil).
func (s *Shop) call(ctx context.Context, in *http.Request, eg Egress, method, url string, body any, auth string, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "vigil-demo-order/1.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	// Copy the trace headers so that one checkout can be followed across
	// services.
	for _, h := range [...]string{"Traceparent", "Tracestate", "X-Request-Id"} {
		if v := in.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := eg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &statusError{status: resp.StatusCode, body: string(bytes.TrimSpace(data))}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
