package shop

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DeclinedCard is the card number the payment provider always declines.
const DeclinedCard = "4000000000000002"

// Charge is one charge the payment provider accepted.
type Charge struct {
	ID          string    `json:"id"`
	AmountCents int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Last4       string    `json:"last4"`
	Description string    `json:"description"`
	APIKey      string    `json:"-"` // the bearer key the caller presented
	Time        time.Time `json:"created"`
}

type chargeStore struct {
	mu      sync.Mutex
	charges []Charge
}

func (c *chargeStore) add(ch Charge) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.charges = append(c.charges, ch)
}

func (c *chargeStore) list() []Charge {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Charge(nil), c.charges...)
}

// Card is a payment card as sent to the order service and the provider.
type Card struct {
	Number   string `json:"number"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	CVC      string `json:"cvc"`
	Name     string `json:"name,omitempty"`
}

// chargeRequest is the body of POST /v1/charges.
type chargeRequest struct {
	AmountCents int64             `json:"amount"`
	Currency    string            `json:"currency"`
	Source      Card              `json:"source"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// chargeResponse is the provider's answer to a successful charge.
type chargeResponse struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
	Paid     bool   `json:"paid"`
	Card     struct {
		Brand string `json:"brand"`
		Last4 string `json:"last4"`
	} `json:"card"`
	Created int64 `json:"created"`
}

func (s *Shop) paymentHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/charges", handle(s.charge))
	return jsonErrors(mux)
}

// charge serves POST /v1/charges, in the manner of a card payment API.
func (s *Shop) charge(w http.ResponseWriter, r *http.Request) error {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !strings.HasPrefix(key, "sk_test_") || subtle.ConstantTimeCompare([]byte(key), []byte(s.PaymentKey)) != 1 {
		return errorf(http.StatusUnauthorized, "invalid_api_key", "a valid secret key (Bearer sk_test_...) is required")
	}
	var req chargeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.AmountCents <= 0 {
		return errorf(http.StatusBadRequest, "invalid_amount", "amount must be a positive number of cents")
	}
	if err := validCard(req.Source, time.Now()); err != nil {
		return err
	}
	if req.Source.Number == DeclinedCard {
		return errorf(http.StatusPaymentRequired, "card_declined", "the card was declined")
	}
	now := time.Now()
	ch := Charge{
		ID:          randomID("ch_", 12),
		AmountCents: req.AmountCents,
		Currency:    strings.ToLower(req.Currency),
		Last4:       req.Source.Number[len(req.Source.Number)-4:],
		Description: req.Description,
		APIKey:      key,
		Time:        now,
	}
	if ch.Currency == "" {
		ch.Currency = "usd"
	}
	s.charges.add(ch)
	var out chargeResponse
	out.ID, out.Object, out.Amount, out.Currency = ch.ID, "charge", ch.AmountCents, ch.Currency
	out.Status, out.Paid, out.Created = "succeeded", true, now.Unix()
	out.Card.Brand, out.Card.Last4 = cardBrand(req.Source.Number), ch.Last4
	writeJSON(w, http.StatusOK, out)
	return nil
}

// validCard checks the number (digits, length, Luhn) and the expiry.
func validCard(c Card, now time.Time) error {
	if !luhn(c.Number) {
		return errorf(http.StatusBadRequest, "invalid_number", "the card number is not valid")
	}
	if c.ExpMonth < 1 || c.ExpMonth > 12 || c.ExpYear < now.Year() || (c.ExpYear == now.Year() && c.ExpMonth < int(now.Month())) {
		return errorf(http.StatusBadRequest, "invalid_expiry", "the card has expired or its expiry is invalid")
	}
	return nil
}

// luhn reports whether number is 12–19 digits with a valid Luhn check digit.
func luhn(number string) bool {
	if len(number) < 12 || len(number) > 19 {
		return false
	}
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		if number[i] < '0' || number[i] > '9' {
			return false
		}
		d := int(number[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func cardBrand(number string) string {
	switch {
	case strings.HasPrefix(number, "4"):
		return "visa"
	case strings.HasPrefix(number, "5"):
		return "mastercard"
	case strings.HasPrefix(number, "34"), strings.HasPrefix(number, "37"):
		return "amex"
	default:
		return "unknown"
	}
}
