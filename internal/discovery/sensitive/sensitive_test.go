package sensitive

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Keys are assembled at run time so that no vendor-shaped secret sits in
// the source for secret scanners to trip on.
var (
	awsKey    = "AKIA" + "IOSFODNN7EXAMPLE"
	githubKey = "ghp" + "_" + strings.Repeat("aB3dE5", 6)
	stripeKey = "sk" + "_live_" + strings.Repeat("4eC39HqLyjWDarjtT1zdp7dc", 1)
	slackKey  = "xox" + "b-1234567890-abcdefghijklmnop"
	googleKey = "AI" + "za" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
	jwtHS256  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

func mustNew(t testing.TB, custom []Custom) *Classifier {
	t.Helper()
	c, err := New(custom)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValue(t *testing.T) {
	c := mustNew(t, nil)
	tests := []struct {
		name, field, value string
		want               []Class
	}{
		// cards
		{"visa", "", "4111111111111111", []Class{CardNumber}},
		{"visa spaced", "", "4111 1111 1111 1111", []Class{CardNumber}},
		{"visa dashed", "", "4111-1111-1111-1111", []Class{CardNumber}},
		{"mastercard", "card", "5555555555554444", []Class{CardNumber}},
		{"mastercard 2-series", "", "2223003122003222", []Class{CardNumber}},
		{"amex grouped", "", "3782 822463 10005", []Class{CardNumber}},
		{"discover", "", "6011111111111117", []Class{CardNumber}},
		{"jcb", "", "3530111333300000", []Class{CardNumber}},
		{"diners", "", "30569309025904", []Class{CardNumber}},
		{"card under card_number name", "card_number", "4111111111111111", []Class{CardNumber}},
		{"16 digits failing luhn", "", "4111111111111112", nil},
		{"luhn ok unknown prefix", "", "1234567812345670", nil},
		{"mixed separators", "", "4111 1111-1111 1111", nil},
		{"card digits under order_id", "order_id", "4111111111111111", nil},
		{"card digits under timestamp", "createdAt", "4111111111111111", nil},
		{"ms timestamp", "", "1700000000000", nil},
		{"ns timestamp", "", "1700000000123456789", nil},

		// national ids
		{"ssn dashed", "", "123-45-6789", []Class{NationalID}},
		{"ssn spaced", "", "123 45 6789", []Class{NationalID}},
		{"ssn plain under ssn", "ssn", "123456789", []Class{NationalID}},
		{"ssn plain under camel name", "socialSecurityNumber", "123456789", []Class{NationalID}},
		{"nine digits no hint", "", "123456789", nil},
		{"ssn area 000", "", "000-12-3456", nil},
		{"ssn area 666", "", "666-12-3456", nil},
		{"ssn area 9xx", "", "912-12-3456", nil},
		{"ssn group 00", "", "123-00-4567", nil},
		{"ssn serial 0000", "", "123-45-0000", nil},
		{"ssn woolworth", "", "078-05-1120", nil},
		{"zip+4", "", "12345-6789", nil},
		{"nino", "", "AB123456C", []Class{NationalID}},
		{"nino spaced", "", "AB 12 34 56 C", []Class{NationalID}},
		{"nino bad prefix letter", "", "QQ123456C", nil},
		{"nino reserved prefix", "", "GB123456A", nil},
		{"nino bad suffix", "", "AB123456E", nil},

		// emails
		{"email", "", "jane.doe@example.com", []Class{Email}},
		{"email plus tag", "contact", "a+tag@mail.example.co.uk", []Class{Email}},
		{"no domain dot", "", "user@localhost", nil},
		{"numeric tld", "", "user@10.0.0.1", nil},
		{"no local", "", "@example.com", nil},
		{"two ats", "", "a@b@example.com", nil},
		{"double dot", "", "a..b@example.com", nil},

		// phones
		{"e164", "", "+14155552671", []Class{Phone}},
		{"e164 spaced", "", "+44 20 7946 0958", []Class{Phone}},
		{"nanp parens", "", "(415) 555-2671", []Class{Phone}},
		{"nanp dashed", "", "415-555-2671", []Class{Phone}},
		{"nanp dotted", "", "415.555.2671", []Class{Phone}},
		{"nanp with trunk", "", "1-800-555-0199", []Class{Phone}},
		{"uk national", "", "020 7946 0958", []Class{Phone}},
		{"plain digits under phone", "phone", "4155552671", []Class{Phone}},
		{"plain digits under mobileNumber", "mobileNumber", "07700900123", []Class{Phone}},
		{"plain 10 digits", "", "4155552671", nil},
		{"unix time", "", "1700000000", nil},
		{"ipv4", "", "10.100.200.123", nil},
		{"date", "", "2024-01-15", nil},
		{"isbn10", "", "0-306-40615-2", nil},
		{"negative integer", "", "-1234567890", nil},
		{"price", "", "12345.67", nil},
		{"plus zero", "", "+0123456789", nil},
		{"short plus", "", "+1234", nil},
		{"version", "", "10.0.19041.1", nil},

		// iban
		{"iban grouped", "", "GB82 WEST 1234 5698 7654 32", []Class{IBAN}},
		{"iban de", "", "DE89370400440532013000", []Class{IBAN}},
		{"iban bad checksum", "", "GB82WEST12345698765433", nil},
		{"iban bad length", "", "GB82WEST123456987654", nil},
		{"iban unknown country", "", "XX82WEST12345698765432", nil},

		// jwt
		{"jwt", "", jwtHS256, []Class{JWT}},
		{"jwt under token", "access_token", jwtHS256, []Class{JWT}},
		{"jwt header without alg", "", "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.c2ln", nil},
		{"jwt bad payload", "", "eyJhbGciOiJIUzI1NiJ9.not base64.x", nil},
		{"two parts", "", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0", nil},

		// api keys
		{"aws", "", awsKey, []Class{APIKey}},
		{"github", "", githubKey, []Class{APIKey}},
		{"stripe", "", stripeKey, []Class{APIKey}},
		{"slack", "", slackKey, []Class{APIKey}},
		{"google", "", googleKey, []Class{APIKey}},
		{"entropy under api_key", "api_key", "q8Zr3kP0vX7mN2bL5tY9wA", []Class{APIKey}},
		{"entropy under X-Api-Key", "X-Api-Key", "q8Zr3kP0vX7mN2bL5tY9wA", []Class{APIKey}},
		{"entropy under refreshToken", "refreshToken", "q8Zr3kP0vX7mN2bL5tY9wA", []Class{APIKey}},
		{"entropy under client_secret", "client_secret", "q8Zr3kP0vX7mN2bL5tY9wA", []Class{APIKey}},
		{"low entropy under api_key", "api_key", "test", nil},
		{"entropy without key name", "description", "q8Zr3kP0vX7mN2bL5tY9wA", nil},
		{"entropy under page token", "next_page_token", "q8Zr3kP0vX7mN2bL5tY9wA", nil},
		{"entropy under idempotency key", "idempotency_key", "q8Zr3kP0vX7mN2bL5tY9wA", nil},
		{"aws lookalike lower", "", "AKIAiosfodnn7example", nil},

		// private keys
		{"pem private key", "", "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n", []Class{PrivateKey}},
		{"pem pkcs8", "key", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----", []Class{PrivateKey}},
		{"pem public key", "", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----", nil},

		// passwords
		{"password", "password", "hunter2", []Class{Password}},
		{"camel confirm", "confirmPassword", "hunter2", []Class{Password}},
		{"confirmation", "password_confirmation", "hunter2", []Class{Password}},
		{"php style", "user[password]", "hunter2", []Class{Password}},
		{"pwd", "PWD", "x", []Class{Password}},
		{"secret low entropy", "secret", "letmein", []Class{Password}},
		{"empty password", "password", "", nil},
		{"blank password", "password", "   ", nil},
		{"passport", "passport", "X1234567", nil},
		{"bypass", "bypass", "yes", nil},
		{"password hint", "password_hint", "pet name", nil},

		// everyday values
		{"uuid", "", "550e8400-e29b-41d4-a716-446655440000", nil},
		{"uuid under id", "id", "550e8400-e29b-41d4-a716-446655440000", nil},
		{"integer", "", "42", nil},
		{"decimal", "price", "19.99", nil},
		{"datetime", "", "2024-01-15T10:30:00Z", nil},
		{"sentence", "comment", "great socks, would buy again", nil},
		{"url", "", "https://example.com/a?b=c", nil},
		{"empty", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Value(tt.field, tt.value)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Value(%q, %q) = %v, want %v", tt.field, tt.value, got, tt.want)
			}
			if c.Sensitive(tt.field, tt.value) != (len(tt.want) > 0) {
				t.Errorf("Sensitive(%q, %q) disagrees with Value", tt.field, tt.value)
			}
		})
	}
}

func TestNewCustom(t *testing.T) {
	tests := []struct {
		name    string
		custom  []Custom
		wantErr string
	}{
		{"ok pattern", []Custom{{Name: "employee_id", Pattern: `^E\d{6}$`}}, ""},
		{"ok fields", []Custom{{Name: "dob", FieldNames: []string{"date_of_birth"}}}, ""},
		{"no name", []Custom{{Pattern: "x"}}, "custom[0]: name is required"},
		{"bad name", []Custom{{Name: "Employee ID", Pattern: "x"}}, `custom[0] "Employee ID": name must be`},
		{"builtin name", []Custom{{Name: "email", Pattern: "x"}}, "collides with a built-in class"},
		{"duplicate", []Custom{{Name: "a", Pattern: "x"}, {Name: "a", Pattern: "y"}}, `custom[1] "a": duplicate name`},
		{"nothing to match", []Custom{{Name: "a"}}, "needs a pattern, field_names or both"},
		{"bad regexp", []Custom{{Name: "a", Pattern: "(unclosed"}}, `custom[0] "a": pattern: error parsing regexp`},
		{"empty field name", []Custom{{Name: "a", FieldNames: []string{"--"}}}, "field_names[0] is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.custom)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCustomClasses(t *testing.T) {
	c := mustNew(t, []Custom{
		{Name: "employee_id", Pattern: `^E\d{6}$`},
		{Name: "dob", FieldNames: []string{"date_of_birth", "dob"}},
		{Name: "member_no", Pattern: `^\d{8}$`, FieldNames: []string{"member_no"}},
	})
	tests := []struct {
		field, value string
		want         []Class
	}{
		{"", "E123456", []Class{"employee_id"}},
		{"", "E12345", nil},
		{"", "xE123456", nil},
		{"dateOfBirth", "1990-01-01", []Class{"dob"}},
		{"DOB", "1990-01-01", []Class{"dob"}},
		{"dob", "", nil},
		{"birthday", "1990-01-01", nil},
		{"Member-No", "12345678", []Class{"member_no"}},
		{"member_no", "1234", nil},
		{"other", "12345678", nil},
		{"email", "jane@example.com", []Class{Email}},
	}
	for _, tt := range tests {
		if got := c.Value(tt.field, tt.value); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Value(%q, %q) = %v, want %v", tt.field, tt.value, got, tt.want)
		}
	}
}

func collect(t *testing.T) (*[]string, func(string, Class)) {
	var got []string
	return &got, func(p string, c Class) { got = append(got, p+"="+string(c)) }
}

func TestScanJSON(t *testing.T) {
	c := mustNew(t, nil)
	body := `{
	  "order_id": 4111111111111111,
	  "customer": {"email": "jane@example.com", "phone": "+14155552671", "password": "hunter2"},
	  "payment": {"card": {"number": "4111 1111 1111 1111", "exp": "12/29"}, "iban": "DE89370400440532013000"},
	  "items": [{"sku": "SOCK-1", "qty": 2, "price": 9.99}, {"sku": "SOCK-2", "gift_email": "bob@example.org"},
	            {"sku": "SOCK-3", "gift_email": "eve@example.org"}],
	  "created": "2024-01-15T10:30:00Z",
	  "pan": 5555555555554444,
	  "tags": ["a", "b"]
	}`
	got, fn := collect(t)
	if err := c.ScanJSON([]byte(body), fn); err != nil {
		t.Fatal(err)
	}
	slices.Sort(*got)
	want := []string{
		"customer.email=email",
		"customer.password=password",
		"customer.phone=phone",
		"items[].gift_email=email",
		"pan=card_number",
		"payment.card.number=card_number",
		"payment.iban=iban",
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("ScanJSON reported\n%v\nwant\n%v", *got, want)
	}

	for _, bad := range []string{``, `{"a":`, `{"email": "jane@example.com"`, `not json`, `{} {}`, `[1,2,]`} {
		got, fn := collect(t)
		if err := c.ScanJSON([]byte(bad), fn); err == nil {
			t.Errorf("ScanJSON(%q) = nil error, want one", bad)
		}
		if len(*got) != 0 {
			t.Errorf("ScanJSON(%q) reported %v on invalid input", bad, *got)
		}
	}

	got, fn = collect(t)
	if err := c.ScanJSON([]byte(`"jane@example.com"`), fn); err != nil || !reflect.DeepEqual(*got, []string{"=email"}) {
		t.Errorf("scalar body: %v %v", *got, err)
	}
}

func TestScanValues(t *testing.T) {
	c := mustNew(t, nil)
	v := url.Values{
		"email":    {"jane@example.com", "bob@example.com"},
		"password": {"hunter2"},
		"q":        {"socks"},
		"page":     {"2"},
		"card":     {"4111111111111111", "nope"},
	}
	got, fn := collect(t)
	c.ScanValues(v, func(n string, cl Class) { fn(n, cl) })
	want := []string{"card=card_number", "email=email", "password=password"}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("ScanValues = %v, want %v", *got, want)
	}
}

func TestScanHeaders(t *testing.T) {
	c := mustNew(t, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("jane:hunter2"))
	tests := []struct {
		name string
		h    http.Header
		want []string
	}{
		{"bearer jwt", http.Header{"Authorization": {"Bearer " + jwtHS256}}, []string{"Authorization=jwt"}},
		{"bearer opaque", http.Header{"Authorization": {"Bearer abc123opaque"}}, []string{"Authorization=api_key"}},
		{"basic", http.Header{"Authorization": {basic}}, []string{"Authorization=password"}},
		{"basic without password", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("jane"))}}, nil},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, nil},
		{"x-api-key", http.Header{"X-Api-Key": {"q8Zr3kP0vX7mN2bL5tY9wA"}}, []string{"X-Api-Key=api_key"}},
		{"aws key in custom header", http.Header{"X-Creds": {awsKey}}, []string{"X-Creds=api_key"}},
		{"cookies", http.Header{"Cookie": {"session_token=q8Zr3kP0vX7mN2bL5tY9wA; theme=dark; email=jane@example.com"}},
			[]string{"cookie:email=email", "cookie:session_token=api_key"}},
		{"set-cookie", http.Header{"Set-Cookie": {"auth_token=" + jwtHS256 + "; Path=/; HttpOnly"}}, []string{"set-cookie:auth_token=jwt"}},
		{"harmless", http.Header{"Accept": {"application/json"}, "User-Agent": {"curl/8.0"}, "X-Request-Id": {"550e8400-e29b-41d4-a716-446655440000"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fn := collect(t)
			c.ScanHeaders(tt.h, fn)
			slices.Sort(*got)
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ScanHeaders = %v, want %v", *got, tt.want)
			}
		})
	}
}

func TestMaskAndHash(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"4111 1111 1111 1111", "****1111"},
		{"5555555555554444", "****4444"},
		{"123-45-6789", "***-**-6789"},
		{"jane@example.com", "j***@example.com"},
		{"hunter2", Hash("hunter2")},
		{jwtHS256, Hash(jwtHS256)},
		{"4111111111111112", Hash("4111111111111112")},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	h := Hash("secret")
	if h != "sha256:2bb80d537b1da3e3" {
		t.Errorf("Hash(secret) = %q", h)
	}
	if Hash("secret2") == h {
		t.Error("different secrets share a hash")
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"confirmPassword", []string{"confirm", "password"}},
		{"X-Api-Key", []string{"x", "api", "key"}},
		{"APIKey", []string{"api", "key"}},
		{"user[password]", []string{"user", "password"}},
		{"password2", []string{"password"}},
		{"a.b.c.d.e.f.g.h.i.token", []string{"a", "b", "c", "d", "e", "f", "g", "token"}},
		{"order_9_id", []string{"order", "id"}},
		{"", nil},
	}
	for _, tt := range tests {
		var buf [maxTokens]string
		got := tokens(tt.in, &buf)
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
