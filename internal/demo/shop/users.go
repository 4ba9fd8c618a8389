package shop

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token parameters of the users service.
const (
	TokenIssuer   = "https://users.shop.demo.local"
	TokenAudience = "vigil-demo-shop"
	TokenKeyID    = "demo-hs256"
	// TokenScope is the scope every demo customer's token carries.
	TokenScope = "profile cart order"
)

// Claims are the claims of a users-service token.
type Claims struct {
	Scope string `json:"scope"`
	jwt.RegisteredClaims
}

// HasScope reports whether the space-separated scope claim contains s.
func (c *Claims) HasScope(s string) bool {
	return slices.Contains(strings.Fields(c.Scope), s)
}

// UserID returns the numeric user id of the subject "user-<id>".
func (c *Claims) UserID() (int, bool) {
	id, ok := strings.CutPrefix(c.Subject, "user-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(id)
	return n, err == nil && n > 0
}

// tokenIssuer signs and verifies HS256 tokens.
type tokenIssuer struct {
	key    []byte
	ttl    time.Duration
	parser *jwt.Parser
}

func newTokenIssuer(key []byte, ttl time.Duration) *tokenIssuer {
	return &tokenIssuer{
		key: key,
		ttl: ttl,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(TokenIssuer),
			jwt.WithAudience(TokenAudience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(30*time.Second),
		),
	}
}

func (t *tokenIssuer) sign(userID int, now time.Time) (string, error) {
	c := Claims{
		Scope: TokenScope,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Subject:   "user-" + strconv.Itoa(userID),
			Audience:  jwt.ClaimStrings{TokenAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        randomID("", 12),
		},
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = TokenKeyID
	return tok.SignedString(t.key)
}

// verify checks a compact JWT and returns its claims.
func (t *tokenIssuer) verify(raw string) (*Claims, error) {
	var c Claims
	_, err := t.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// authorize checks the request's bearer token, that it carries scope and
// that its subject is the user in the path. It returns 401 or 403 errors.
func (s *Shop) authorize(r *http.Request, user int, scope string) (*Claims, error) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, errorf(http.StatusUnauthorized, "unauthorized", "a bearer token is required")
	}
	c, err := s.tokens.verify(strings.TrimSpace(raw))
	if err != nil {
		return nil, errorf(http.StatusUnauthorized, "invalid_token", "%v", err)
	}
	if !c.HasScope(scope) {
		return nil, errorf(http.StatusForbidden, "insufficient_scope", "token lacks scope %q", scope)
	}
	if id, ok := c.UserID(); !ok || id != user {
		return nil, errorf(http.StatusForbidden, "forbidden", "token subject %q may not access user %d", c.Subject, user)
	}
	return c, nil
}

// JWKS returns the users service's verification key as a JSON Web Key Set
// (one "oct" HS256 key), for a gateway's identity stage.
func (s *Shop) JWKS() []byte {
	set := map[string]any{"keys": []map[string]string{{
		"kty": "oct",
		"kid": TokenKeyID,
		"alg": "HS256",
		"use": "sig",
		"k":   base64.RawURLEncoding.EncodeToString(s.tokens.key),
	}}}
	b, _ := json.Marshal(set)
	return b
}

// loginRequest is the body of POST /login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse is the answer to a successful POST /login.
type LoginResponse struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int    `json:"expires_in"`
	UserID    int    `json:"user_id"`
}

// Profile is the answer to GET /users/{userId}.
type Profile struct {
	ID          int      `json:"id"`
	Username    string   `json:"username"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	Phone       string   `json:"phone"`
	Address     Address  `json:"address"`
	CardOnFile  string   `json:"card_on_file"`
	MemberSince string   `json:"member_since"`
	Scopes      []string `json:"scopes"`
}

func (s *Shop) usersHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", handle(s.login))
	mux.HandleFunc("GET /users/{userId}", handle(s.profile))
	mux.HandleFunc("GET /healthz", healthz)
	return jsonErrors(mux)
}

func (s *Shop) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return errorf(http.StatusBadRequest, "bad_request", "username and password are required")
	}
	u, err := s.checkPassword(req.Username, req.Password)
	if err != nil {
		return err
	}
	tok, err := s.tokens.sign(u.ID, time.Now())
	if err != nil {
		return fmt.Errorf("sign token: %w", err)
	}
	writeJSON(w, http.StatusOK, LoginResponse{Token: tok, TokenType: "Bearer", ExpiresIn: int(s.tokens.ttl / time.Second), UserID: u.ID})
	return nil
}

// checkPassword compares in constant time and answers the same way for an
// unknown user and a wrong password.
func (s *Shop) checkPassword(username, password string) (User, error) {
	var found *User
	for i := range s.users {
		if s.users[i].Username == username {
			found = &s.users[i]
		}
	}
	want := "\x00no-such-user"
	if found != nil {
		want = found.password
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(want)) != 1 || found == nil {
		return User{}, errorf(http.StatusUnauthorized, "invalid_credentials", "unknown username or wrong password")
	}
	return *found, nil
}

func (s *Shop) profile(w http.ResponseWriter, r *http.Request) error {
	user, err := pathInt(r, "userId")
	if err != nil {
		return err
	}
	c, err := s.authorize(r, user, "profile")
	if err != nil {
		return err
	}
	i := slices.IndexFunc(s.users, func(u User) bool { return u.ID == user })
	if i < 0 {
		return errorf(http.StatusNotFound, "user_not_found", "no user %d", user)
	}
	u := s.users[i]
	writeJSON(w, http.StatusOK, Profile{
		ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, Phone: u.Phone, Address: u.Address,
		CardOnFile:  "visa **** **** **** 1111",
		MemberSince: time.Date(2019, time.Month(1+u.ID%12), 1+u.ID%28, 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
		Scopes:      strings.Fields(c.Scope),
	})
	return nil
}
