package alert

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
)

// httpSink POSTs a JSON body built per alert and attempt: the webhook,
// Slack and PagerDuty sinks.
type httpSink struct {
	client *http.Client
	url    string
	shown  string // url masked, for errors and logs
	agent  string
	body   func(a *Alert, attempt int, h http.Header) ([]byte, error)
}

var _ Sink = (*httpSink)(nil)

func newHTTPSink(rawURL, version string, body func(*Alert, int, http.Header) ([]byte, error)) *httpSink {
	return &httpSink{url: rawURL, shown: MaskURL(rawURL), agent: "Vigil/" + version, body: body,
		client: &http.Client{
			// A redirect is an answer, not followed: the signed body goes
			// only where it was configured to go.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

// Deliver implements Sink: a 2xx answer delivers; network errors, 5xx and
// 429 may be retried (after Retry-After when given); other answers
// refuse the alert.
func (s *httpSink) Deliver(ctx context.Context, a *Alert, attempt int) error {
	h := http.Header{}
	body, err := s.body(a, attempt, h)
	if err != nil {
		return &Error{Err: fmt.Errorf("encode: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Err: fmt.Errorf("POST %s: bad request", s.shown)}
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.agent)
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL
		}
		return &Error{Retry: true, Err: fmt.Errorf("POST %s: %w", s.shown, err)}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &Error{Status: resp.StatusCode, Err: fmt.Errorf("POST %s: %s%s", s.shown, resp.Status, printable(snippet))}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		e.Retry = true
		e.After, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// printable is ": " and the start of a receiver's answer on one line, or
// "".
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), ""))
	if s = strings.TrimSpace(s); s == "" {
		return ""
	}
	return ": " + truncate(s, 200)
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3), as a wait from now; ok is false when the
// value is neither. A date in the past is a zero wait.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// MaskURL is a URL as logs and events may show it: scheme and host, the
// path elided (a Slack webhook's path is its secret), never credentials,
// query or fragment.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/…"
	}
	return s
}

// SignatureHeader is the webhook's signature header.
const SignatureHeader = "Vigil-Signature"

// Sign is the Vigil-Signature value of body sent at unix time ts:
// t=TS,v1=hex(HMAC-SHA256(secret, "TS." + body)).
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	t := strconv.FormatInt(ts, 10)
	m.Write([]byte(t + "."))
	m.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a Vigil-Signature header against body, as a receiver
// does: one of its v1 values must be the HMAC of its timestamp and body,
// and the timestamp within tolerance of now (replays of old deliveries
// fail).
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts int64
	var sigs [][]byte
	haveTS := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return errors.New("signature: malformed element")
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS {
				return errors.New("signature: bad or repeated timestamp")
			}
			ts, haveTS = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return errors.New("signature: v1 is not a hex SHA-256 MAC")
			}
			sigs = append(sigs, b)
		}
	}
	if !haveTS || len(sigs) == 0 {
		return errors.New("signature: needs t= and v1=")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("signature: timestamp outside the tolerance")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("signature: no v1 matches")
}

// WebhookPayload is the generic webhook's JSON body.
type WebhookPayload struct {
	// Type is "vigil.alert".
	Type     string      `json:"type"`
	ID       string      `json:"id"`
	Time     time.Time   `json:"time"`
	Severity string      `json:"severity"`
	Summary  string      `json:"summary"`
	Alert    event.Alert `json:"alert"`
	Source   string      `json:"source,omitempty"`
}

// newWebhook signs each attempt anew (its own timestamp) with secret;
// Vigil-Alert-Id is the same on every attempt and replica.
func newWebhook(rawURL string, secret []byte, version string) *httpSink {
	return newHTTPSink(rawURL, version, func(a *Alert, attempt int, h http.Header) ([]byte, error) {
		body, err := json.Marshal(WebhookPayload{Type: "vigil.alert", ID: a.ID, Time: a.Time.UTC(), Severity: a.Severity.String(),
			Summary: a.Summary(), Source: a.Source,
			Alert: event.Alert{Kind: a.Kind, Host: a.Host, Method: a.Method, Endpoint: a.Endpoint, Detail: a.Detail}})
		if err != nil {
			return nil, err
		}
		h.Set(SignatureHeader, Sign(secret, time.Now().Unix(), body))
		h.Set("Vigil-Alert-Id", a.ID)
		h.Set("Vigil-Delivery-Attempt", strconv.Itoa(attempt))
		return body, nil
	})
}

// Slack's Block Kit: https://api.slack.com/reference/block-kit/blocks.
type slackText struct {
	Type string `json:"type"` // plain_text, mrkdwn
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"` // header, section, context
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackEscape escapes what Slack's mrkdwn treats as markup (&, <, >).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func newSlack(rawURL, version string) *httpSink {
	return newHTTPSink(rawURL, version, func(a *Alert, _ int, _ http.Header) ([]byte, error) {
		return json.Marshal(slackPayload(a))
	})
}

func slackPayload(a *Alert) slackMessage {
	var what string
	if a.Method != "" || a.Endpoint != "" {
		what = "*" + slackEscape(strings.TrimSpace(a.Method+" "+a.Endpoint)) + "* on `" + slackEscape(a.Host) + "`"
	} else {
		what = "`" + slackEscape(a.Host) + "`"
	}
	if a.Detail != "" {
		what += "\n" + slackEscape(a.Detail)
	}
	fields := []slackText{{Type: "mrkdwn", Text: "*Severity*\n" + a.Severity.String()}, {Type: "mrkdwn", Text: "*Kind*\n" + slackEscape(a.Kind)}}
	if a.Source != "" {
		fields = append(fields, slackText{Type: "mrkdwn", Text: "*Source*\n" + slackEscape(truncate(a.Source, 1000))})
	}
	return slackMessage{Text: a.Summary(), Blocks: []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate("Vigil: "+a.Kind, 150)}},
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(what, 3000)}},
		{Type: "section", Fields: fields},
		{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: slackEscape(a.Time.UTC().Format(time.RFC3339) + " · " + a.ID)}}},
	}}
}

// PagerDuty Events API v2: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/.
type pdEvent struct {
	RoutingKey  string    `json:"routing_key"`
	EventAction string    `json:"event_action"`
	DedupKey    string    `json:"dedup_key"`
	Client      string    `json:"client"`
	Payload     pdPayload `json:"payload"`
}

type pdPayload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"` // critical, error, warning, info
	Timestamp     string            `json:"timestamp"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class"`
	CustomDetails map[string]string `json:"custom_details"`
}

// pdSeverity maps a severity to PagerDuty's four.
func pdSeverity(s Severity) string {
	switch s {
	case Critical:
		return "critical"
	case High:
		return "error"
	case Medium:
		return "warning"
	}
	return "info"
}

func newPagerDuty(rawURL, routingKey, version, hostname string) *httpSink {
	if rawURL == "" {
		rawURL = config.DefaultPagerDutyURL
	}
	return newHTTPSink(rawURL, version, func(a *Alert, _ int, _ http.Header) ([]byte, error) {
		return json.Marshal(pdPayloadOf(a, routingKey, hostname))
	})
}

func pdPayloadOf(a *Alert, routingKey, hostname string) pdEvent {
	source := cmp.Or(a.Host, hostname, "vigil")
	component := strings.TrimSpace(a.Method + " " + a.Endpoint)
	details := map[string]string{"alert_id": a.ID, "kind": a.Kind, "severity": a.Severity.String()}
	for k, v := range map[string]string{"host": a.Host, "method": a.Method, "endpoint": a.Endpoint, "detail": a.Detail, "source": a.Source} {
		if v != "" {
			details[k] = v
		}
	}
	return pdEvent{RoutingKey: routingKey, EventAction: "trigger", Client: "Vigil",
		// One incident per alert key: the same shadow endpoint seen again
		// is the same incident, not a new page.
		DedupKey: truncate("vigil/"+a.Kind+"/"+a.Host+"/"+component, 255),
		Payload: pdPayload{Summary: truncate(a.Summary(), 1024), Source: truncate(source, 255), Severity: pdSeverity(a.Severity),
			Timestamp: a.Time.UTC().Format(time.RFC3339Nano), Component: component, Group: a.Host, Class: a.Kind,
			CustomDetails: details}}
}
