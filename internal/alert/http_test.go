package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestWebhookSigned: the webhook's body is the alert, signed with
// HMAC-SHA256 over "t.body" as a receiver verifies it (here by hand, not
// with Verify), with the secret from the config or the environment.
func TestWebhookSigned(t *testing.T) {
	for _, tc := range []struct {
		name, secretKeys string
		env              map[string]string
	}{
		{"secret in config", "secret: s3cret", nil},
		{"secret from env", "secret_env: HOOK_SECRET", map[string]string{"HOOK_SECRET": "s3cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t)
			cfg := parse(t, fmt.Sprintf("sinks:\n  - {name: sec, type: webhook, url: %q, %s}\n", rcv.URL+"/hook", tc.secretKeys))
			d, _ := start(t, cfg, Options{Getenv: func(k string) string { return tc.env[k] }})
			d.Send(alertEvent("shadow_endpoint", "shop.local", "GET", "/debug/{parameter}", "not in any spec"))
			got := rcv.wait(t, 1)[0]

			sig := got.header.Get("Vigil-Signature")
			var ts int64
			var v1 string
			if _, err := fmt.Sscanf(strings.Replace(sig, ",v1=", " ", 1), "t=%d %s", &ts, &v1); err != nil {
				t.Fatalf("Vigil-Signature %q: %v", sig, err)
			}
			m := hmac.New(sha256.New, []byte("s3cret"))
			fmt.Fprintf(m, "%d.%s", ts, got.body)
			if want := hex.EncodeToString(m.Sum(nil)); v1 != want {
				t.Fatalf("v1=%s, want HMAC-SHA256 %s", v1, want)
			}
			if d := time.Since(time.Unix(ts, 0)); d < -time.Minute || d > time.Minute {
				t.Fatalf("signature timestamp %d is not now", ts)
			}
			if err := Verify([]byte("s3cret"), sig, got.body, time.Now(), 5*time.Minute); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := Verify([]byte("wrong"), sig, got.body, time.Now(), 5*time.Minute); err == nil {
				t.Fatal("Verify accepted the wrong secret")
			}
			var p WebhookPayload
			if err := json.Unmarshal(got.body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != "vigil.alert" || p.Alert.Kind != "shadow_endpoint" || p.Alert.Endpoint != "/debug/{parameter}" ||
				p.Severity != "medium" || !p.Time.Equal(t0) || !strings.Contains(p.Summary, "GET /debug/{parameter} on shop.local") {
				t.Fatalf("payload %+v", p)
			}
			if got.header.Get("Vigil-Alert-Id") != p.ID || got.header.Get("Content-Type") != "application/json" || got.path != "/hook" {
				t.Fatalf("headers %v, path %s", got.header, got.path)
			}
		})
	}
}

// TestVerifyRejects: a receiver's Verify refuses what was not signed so.
func TestVerifyRejects(t *testing.T) {
	secret, body, now := []byte("k"), []byte(`{"a":1}`), time.Unix(1_800_000_000, 0)
	good := Sign(secret, now.Unix(), body)
	for _, tc := range []struct {
		name, header string
		body         []byte
	}{
		{"other body", good, []byte(`{"a":2}`)},
		{"old timestamp", Sign(secret, now.Unix()-600, body), body},
		{"no v1", "t=1800000000", body},
		{"no t", "v1=" + strings.Repeat("0", 64), body},
		{"short mac", "t=1800000000,v1=abcd", body},
		{"garbage", "nonsense", body},
		{"empty", "", body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(secret, tc.header, tc.body, now, 5*time.Minute); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if err := Verify(secret, good+",v1="+strings.Repeat("1", 64), body, now, time.Minute); err != nil {
		t.Fatalf("a rotated secret's extra v1 broke verification: %v", err)
	}
}

// TestSlackPayload: Slack gets a fallback text and Block Kit blocks, with
// Slack's markup characters escaped.
func TestSlackPayload(t *testing.T) {
	rcv := newReceiver(t)
	cfg := parse(t, fmt.Sprintf("sinks:\n  - {name: slack, type: slack, url: %q}\n", rcv.URL+"/services/T0/B0/XYZ"))
	d, _ := start(t, cfg, Options{})
	d.Send(alertEvent("new_sensitive", "shop.local", "POST", "/login", "card <b>&</b>"))
	got := rcv.wait(t, 1)[0]
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct {
				Type, Text string
			} `json:"fields"`
			Elements []struct {
				Type, Text string
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(got.body, &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Text, "new_sensitive: POST /login on shop.local") {
		t.Fatalf("text %q", msg.Text)
	}
	var types []string
	for _, b := range msg.Blocks {
		types = append(types, b.Type)
	}
	if strings.Join(types, ",") != "header,section,section,context" {
		t.Fatalf("blocks %v", types)
	}
	if h := msg.Blocks[0].Text; h == nil || h.Type != "plain_text" || h.Text != "Vigil: new_sensitive" {
		t.Fatalf("header %+v", h)
	}
	if s := msg.Blocks[1].Text; s == nil || s.Type != "mrkdwn" || !strings.Contains(s.Text, "card &lt;b&gt;&amp;&lt;/b&gt;") ||
		!strings.Contains(s.Text, "*POST /login*") {
		t.Fatalf("section %+v", s)
	}
	if f := msg.Blocks[2].Fields; len(f) < 2 || f[0].Text != "*Severity*\nmedium" {
		t.Fatalf("fields %+v", f)
	}
}

// TestPagerDutyPayload: an Events API v2 trigger, its severity one of
// PagerDuty's four, one dedup_key per alert key.
func TestPagerDutyPayload(t *testing.T) {
	for _, tc := range []struct {
		kind, severity string
	}{
		{"audit_bad_signature", "critical"},
		{"weak_cipher", "error"},
		{"shadow_endpoint", "warning"},
		{"new_endpoint", "info"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			rcv := newReceiver(t, http.StatusAccepted)
			cfg := parse(t, fmt.Sprintf("sinks:\n  - {name: pd, type: pagerduty, url: %q, routing_key_env: PD_KEY}\n", rcv.URL+"/v2/enqueue"))
			d, st := start(t, cfg, Options{Getenv: func(k string) string { return map[string]string{"PD_KEY": "R0UT1NG"}[k] }})
			d.Send(alertEvent(tc.kind, "pay.example", "POST", "/charge", "detail text"))
			got := rcv.wait(t, 1)[0]
			var ev struct {
				RoutingKey  string `json:"routing_key"`
				EventAction string `json:"event_action"`
				DedupKey    string `json:"dedup_key"`
				Payload     struct {
					Summary, Source, Severity, Timestamp, Component, Group, Class string
					CustomDetails                                                 map[string]string `json:"custom_details"`
				} `json:"payload"`
			}
			if err := json.Unmarshal(got.body, &ev); err != nil {
				t.Fatal(err)
			}
			p := ev.Payload
			if ev.RoutingKey != "R0UT1NG" || ev.EventAction != "trigger" || ev.DedupKey != "vigil/"+tc.kind+"/pay.example/POST /charge" {
				t.Fatalf("event %+v", ev)
			}
			if p.Severity != tc.severity || p.Source != "pay.example" || p.Component != "POST /charge" || p.Group != "pay.example" ||
				p.Class != tc.kind || !strings.HasPrefix(p.Summary, tc.kind+": POST /charge on pay.example") {
				t.Fatalf("payload %+v", p)
			}
			if ts, err := time.Parse(time.RFC3339, p.Timestamp); err != nil || !ts.Equal(t0) {
				t.Fatalf("timestamp %q: %v", p.Timestamp, err)
			}
			if p.CustomDetails["detail"] != "detail text" || p.CustomDetails["alert_id"] == "" {
				t.Fatalf("custom_details %v", p.CustomDetails)
			}
			eventually(t, "the delivered event", func() bool { return len(st.statuses()) == 1 })
			if s := st.statuses(); s[0] != StatusDelivered {
				t.Fatalf("statuses %v", s)
			}
		})
	}
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/SECRET": "https://hooks.slack.com/…",
		"https://user:pass@hooks.example/x?token=t":     "https://hooks.example/…",
		"https://events.pagerduty.com":                  "https://events.pagerduty.com",
		"http://127.0.0.1:9/?k=v":                       "http://127.0.0.1:9/…",
		"::not a url":                                   "(invalid URL)",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 17, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"Sat, 17 Jan 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sat, 17 Jan 2026 11:00:00 GMT", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
