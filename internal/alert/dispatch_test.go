package alert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
)

// TestRetries: network-like failures (5xx, 429) are retried until the
// receiver answers; other 4xx are not; after max_attempts the alert is
// dead-lettered. Every attempt is an alert_delivery event.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int
		attempts  int    // the receiver sees
		outcomes  string // recorded, in order
		dead      uint64
		lastHTTP  int
		delivered uint64
	}{
		{"fails twice then succeeds", []int{503, 500, 200}, 3, "retry,retry,delivered", 0, 0, 1},
		{"429 is retried", []int{429, 204}, 2, "retry,delivered", 0, 0, 1},
		{"dead letter after max attempts", []int{502}, 3, "retry,retry,dead_letter", 1, 502, 0},
		{"400 is not retried", []int{400}, 1, "dead_letter", 1, 400, 0},
		{"404 is not retried", []int{404, 200}, 1, "dead_letter", 1, 404, 0},
		{"a redirect is not followed", []int{307, 200}, 1, "dead_letter", 1, 307, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t, tc.statuses...)
			cfg := parse(t, fmt.Sprintf("sinks:\n  - {name: hook, type: webhook, url: %q, secret: k, max_attempts: 3, backoff: 1ms, max_backoff: 5ms}\n", rcv.URL))
			d, st := start(t, cfg, Options{})
			d.Send(alertEvent("zombie_endpoint", "shop.local", "GET", "/v1/cart", "deprecated"))
			eventually(t, "the outcomes", func() bool { return len(st.statuses()) == len(strings.Split(tc.outcomes, ",")) })
			time.Sleep(20 * time.Millisecond) // an extra attempt would show now
			if n := len(rcv.requests()); n != tc.attempts {
				t.Fatalf("receiver saw %d attempts, want %d", n, tc.attempts)
			}
			if got := strings.Join(st.statuses(), ","); got != tc.outcomes {
				t.Fatalf("outcomes %s, want %s", got, tc.outcomes)
			}
			s := d.Stats()[0]
			if s.DeadLetters != tc.dead || d.DeadLetters() != tc.dead || s.Delivered != tc.delivered {
				t.Fatalf("stats %+v", s)
			}
			evs := st.events()
			last := evs[len(evs)-1]
			if last.Type != "alert_delivery" || last.Delivery.HTTPStatus != tc.lastHTTP || last.Delivery.Attempt != tc.attempts ||
				last.Delivery.Sink != "hook" || last.Delivery.SinkType != "webhook" || last.Alert.Kind != "zombie_endpoint" ||
				last.ParentTxnID != "alert-zombie_endpoint-shop.local/v1/cart" {
				t.Fatalf("last event %+v %+v", last, last.Delivery)
			}
			ids := map[string]bool{}
			for _, ev := range evs {
				if ids[ev.TxnID] {
					t.Fatalf("two events with txn_id %s", ev.TxnID)
				}
				ids[ev.TxnID] = true
			}
			// Every attempt carries the same alert id, so a receiver can
			// drop a duplicate.
			for _, r := range rcv.requests() {
				if r.header.Get("Vigil-Alert-Id") != rcv.requests()[0].header.Get("Vigil-Alert-Id") {
					t.Fatal("the alert id changed between attempts")
				}
			}
		})
	}
}

// TestRetryAfter: a 429 with Retry-After holds the next attempt at least
// that long, though the backoff is a millisecond.
func TestRetryAfter(t *testing.T) {
	rcv := newReceiver(t, 429, 200)
	rcv.header.Set("Retry-After", "1")
	cfg := parse(t, fmt.Sprintf("sinks:\n  - {name: hook, type: slack, url: %q, backoff: 1ms}\n", rcv.URL))
	d, _ := start(t, cfg, Options{})
	d.Send(alertEvent("new_endpoint", "h", "GET", "/x", ""))
	got := rcv.wait(t, 2)
	if gap := got[1].at.Sub(got[0].at); gap < 900*time.Millisecond {
		t.Fatalf("retried after %v despite Retry-After: 1", gap)
	}
}

// TestSecretsNeverShown: errors in events and stats show neither the
// URL's path and query nor its credentials nor the signing secret.
func TestSecretsNeverShown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused
	u := "http://user:PASSWORD@" + addr + "/services/T0/B0/PATHSECRET?token=QUERYSECRET"
	cfg := parse(t, "sinks:\n  - {name: hook, type: webhook, url_env: HOOK_URL, secret: SIGNSECRET, max_attempts: 2, backoff: 1ms}\n")
	d, st := start(t, cfg, Options{Getenv: func(string) string { return u }})
	d.Send(alertEvent("new_endpoint", "h", "GET", "/x", ""))
	eventually(t, "a dead letter", func() bool { return len(st.statuses()) == 2 })
	shown := d.Stats()[0].LastError
	for _, ev := range st.events() {
		shown += " " + ev.Delivery.Error
	}
	if !strings.Contains(shown, "http://"+addr+"/…") {
		t.Fatalf("errors do not name the receiver: %s", shown)
	}
	for _, secret := range []string{"PASSWORD", "user", "PATHSECRET", "QUERYSECRET", "SIGNSECRET", "services"} {
		if strings.Contains(shown, secret) {
			t.Fatalf("%q shown: %s", secret, shown)
		}
	}
}

// TestDedupAndFilters: per sink, an alert key is delivered once per
// window; kinds and min_severity filter; rate_limited alerts are
// counted and recorded.
func TestDedupAndFilters(t *testing.T) {
	shadow := alertEvent("shadow_endpoint", "shop.local", "GET", "/debug", "not in any spec")
	otherEndpoint := alertEvent("shadow_endpoint", "shop.local", "GET", "/admin", "not in any spec")
	newEP := alertEvent("new_endpoint", "shop.local", "GET", "/debug", "")
	weak := alertEvent("weak_cipher", "pay.example", "", "", "TLS 1.2 with CBC")
	for _, tc := range []struct {
		name, sink string
		send       []string // by name below
		delivered  int
		dedup      uint64
		limited    uint64
	}{
		{"same key twice is delivered once", "", []string{"shadow", "shadow"}, 1, 1, 0},
		{"another endpoint is another key", "", []string{"shadow", "other", "shadow"}, 2, 1, 0},
		{"window 0s delivers all", "dedup_window: 0s\n", []string{"shadow", "shadow"}, 2, 0, 0},
		{"types filter", "types: [weak_cipher]", []string{"shadow", "new", "weak"}, 1, 0, 0},
		{"min_severity filters", "min_severity: medium", []string{"new", "shadow", "weak"}, 2, 0, 0},
		{"rate", "rate: 2/h", []string{"shadow", "other", "new", "weak"}, 2, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t)
			top, sinkOpt := "", tc.sink
			if strings.HasPrefix(tc.sink, "dedup_window") {
				top, sinkOpt = tc.sink, ""
			}
			if sinkOpt != "" {
				sinkOpt = ", " + sinkOpt
			}
			cfg := parse(t, fmt.Sprintf("%ssinks:\n  - {name: hook, type: slack, url: %q%s}\n", top, rcv.URL, sinkOpt))
			d, st := start(t, cfg, Options{})
			byName := map[string]event.Event{"shadow": shadow, "other": otherEndpoint, "new": newEP, "weak": weak}
			for _, n := range tc.send {
				d.Send(byName[n])
			}
			rcv.wait(t, tc.delivered)
			eventually(t, "the events", func() bool { return uint64(len(st.statuses())) == uint64(tc.delivered)+tc.limited })
			time.Sleep(20 * time.Millisecond)
			s := d.Stats()[0]
			if n := len(rcv.requests()); n != tc.delivered || s.Deduplicated != tc.dedup || s.RateLimited != tc.limited {
				t.Fatalf("delivered %d (want %d), stats %+v", n, tc.delivered, s)
			}
		})
	}
}

// blockingSink never returns until its context ends.
type blockingSink struct{ calls atomic.Int64 }

func (b *blockingSink) Deliver(ctx context.Context, _ *Alert, _ int) error {
	b.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// TestSlowReceiverNeverBlocks: a receiver that never answers holds its
// own queue only: Send returns at once, the overflow is dropped and
// counted, and another sink still gets every alert.
func TestSlowReceiverNeverBlocks(t *testing.T) {
	rcv := newReceiver(t)
	cfg := parse(t, fmt.Sprintf("dedup_window: 0s\nsinks:\n  - {name: slow, type: slack, url: http://127.0.0.1:9/, queue_size: 4, timeout: 1h}\n"+
		"  - {name: fast, type: slack, url: %q}\n", rcv.URL))
	slow := &blockingSink{}
	d, st := start(t, cfg, Options{Sinks: map[string]Sink{"slow": slow}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			d.Send(alertEvent("new_endpoint", "h", "GET", fmt.Sprintf("/p%d", i), ""))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked on a slow receiver")
	}
	rcv.wait(t, 50)
	eventually(t, "the slow sink to start one", func() bool { return slow.calls.Load() == 1 })
	s := d.Stats()[0]
	// The queue holds 4 and one is in flight; when the sink took its
	// first alert only after the queue filled, 46 were dropped.
	if s.Name != "slow" || s.Queued > 4 || s.Dropped < 45 || uint64(s.Queued)+s.Dropped+1 != 50 {
		t.Fatalf("slow sink %+v: want 4 (or 3) queued, 1 in flight, the rest dropped", s)
	}
	eventually(t, "dropped events", func() bool {
		n := 0
		for _, s := range st.statuses() {
			if s == StatusDropped {
				n++
			}
		}
		return uint64(n) == s.Dropped
	})
}

// TestStartErrors: a secret named by an environment variable that is
// not set is an error naming the key.
func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		sinks, want string
	}{
		{"- {name: a, type: webhook, url: 'http://h/', secret_env: NOPE}", "events.alerts.sinks[0].secret_env"},
		{"- {name: a, type: slack, url: http://h/}\n- {name: b, type: slack, url_env: NOPE}", "events.alerts.sinks[1].url_env"},
		{"- {name: a, type: pagerduty, routing_key_env: NOPE}", "events.alerts.sinks[0].routing_key_env"},
	} {
		cfg := parse(t, "sinks:\n"+indent(tc.sinks, "  "))
		_, err := Start(context.Background(), cfg, Options{Getenv: func(string) string { return "" }})
		var errs config.Errors
		if !errors.As(err, &errs) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "NOPE") {
			t.Errorf("%s: error %v, want one naming %s", tc.sinks, err, tc.want)
		}
	}
	cfg := parse(t, "sinks:\n  - {name: a, type: slack, url_env: U}\n")
	if _, err := Start(context.Background(), cfg, Options{Getenv: func(string) string { return "ftp://x" }}); err == nil ||
		!strings.Contains(err.Error(), "url_env") || strings.Contains(err.Error(), "ftp://x") {
		t.Errorf("a bad URL from the environment: %v", err)
	}
}

// TestMetrics: the dispatcher is a Prometheus collector of outcomes and
// dead letters per sink.
func TestMetrics(t *testing.T) {
	rcv := newReceiver(t, 400)
	cfg := parse(t, fmt.Sprintf("sinks:\n  - {name: hook, type: slack, url: %q}\n", rcv.URL))
	d, _ := start(t, cfg, Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(d)
	d.Send(alertEvent("new_endpoint", "h", "GET", "/x", ""))
	d.Send(alertEvent("new_endpoint", "h", "GET", "/x", ""))
	eventually(t, "a dead letter", func() bool { return d.DeadLetters() == 1 })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "," + l.GetName() + "=" + l.GetValue()
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for k, v := range map[string]float64{
		"vigil_alert_dead_letters_total,sink=hook,type=slack":                    1,
		"vigil_alert_deliveries_total,outcome=deduplicated,sink=hook,type=slack": 1,
		"vigil_alert_deliveries_total,outcome=delivered,sink=hook,type=slack":    0,
		"vigil_alert_queue_length,sink=hook,type=slack":                          0,
		"vigil_alert_delivery_events_dropped_total":                              0,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// nopSink delivers at once.
type nopSink struct{}

func (nopSink) Deliver(context.Context, *Alert, int) error { return nil }

// BenchmarkSend is the control plane's cost of one alert with four sinks
// (filters, dedup, rate, queue); delivery runs on the sinks' goroutines.
func BenchmarkSend(b *testing.B) {
	cfg := parse(b, "sinks:\n"+
		"  - {name: a, type: slack, url: http://127.0.0.1:9/}\n"+
		"  - {name: b, type: slack, url: http://127.0.0.1:9/, types: [shadow_endpoint]}\n"+
		"  - {name: c, type: slack, url: http://127.0.0.1:9/, rate: 1000000/s}\n"+
		"  - {name: d, type: slack, url: http://127.0.0.1:9/, min_severity: high}\n")
	d, _ := start(b, cfg, Options{Sinks: map[string]Sink{"a": nopSink{}, "b": nopSink{}, "c": nopSink{}, "d": nopSink{}}})
	evs := make([]event.Event, 1024)
	for i := range evs {
		evs[i] = alertEvent("shadow_endpoint", "shop.local", "GET", fmt.Sprintf("/p%d", i), "not in any spec")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Send(evs[i%len(evs)])
	}
}
