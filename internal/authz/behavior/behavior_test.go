package behavior

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"
)

var (
	day1  = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	day2  = day1.Add(24 * time.Hour) // 10:00 the next day: a usual hour
	home  = netip.MustParseAddr("10.0.0.5")
	usual = "GET /orders/{id}"
)

// baseline is a tracker that has seen alice for an hour: one request a
// minute, from 10.0.0.5, on her three orders, between 10:00 and 11:00.
func baseline(t *testing.T) *Tracker {
	t.Helper()
	tr := New(Options{})
	for i := range 60 {
		sc := tr.Check(Observation{Identity: "alice", Endpoint: usual, ObjectID: fmt.Sprint("o-", i%3), SourceIP: home,
			At: day1.Add(time.Duration(i) * time.Minute)})
		if i < 50 && sc.Anomaly != 0 {
			t.Fatalf("request %d scored %v during warm-up", i, sc.Anomaly)
		}
	}
	return tr
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestAnomalyReasons(t *testing.T) {
	for _, tc := range []struct {
		name    string
		obs     Observation
		reasons Reason
		anomaly float64
	}{
		{"as usual", Observation{Endpoint: usual, ObjectID: "o-1", SourceIP: home, At: day2.Add(15 * time.Minute)}, 0, 0},
		{"a new endpoint", Observation{Endpoint: "DELETE /users/{id}", SourceIP: home, At: day2}, NewEndpoint, 0.35},
		{"a new network", Observation{Endpoint: usual, SourceIP: netip.MustParseAddr("203.0.113.9"), At: day2}, NewNetwork, 0.25},
		{"same /24 is the same network", Observation{Endpoint: usual, SourceIP: netip.MustParseAddr("10.0.0.77"), At: day2}, 0, 0},
		{"IPv4-mapped IPv6 is the same network", Observation{Endpoint: usual, SourceIP: netip.MustParseAddr("::ffff:10.0.0.5"), At: day2}, 0, 0},
		{"an unusual hour", Observation{Endpoint: usual, SourceIP: home, At: day2.Add(-7 * time.Hour)}, UnusualHour, 0.2},
		{"new endpoint, network and hour", Observation{Endpoint: "GET /admin/export", SourceIP: netip.MustParseAddr("198.51.100.1"),
			At: day2.Add(-7 * time.Hour)}, NewEndpoint | NewNetwork | UnusualHour, 1 - 0.65*0.75*0.8},
		{"no source address: network not judged", Observation{Endpoint: usual, At: day2}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := baseline(t)
			tc.obs.Identity = "alice"
			sc := tr.Check(tc.obs)
			if sc.Reasons != tc.reasons || !near(sc.Anomaly, tc.anomaly) {
				t.Fatalf("reasons %v anomaly %v, want %v %v", sc.Reasons, sc.Anomaly, tc.reasons, tc.anomaly)
			}
			if tc.anomaly > 0 && len(sc.Reasons.Strings()) == 0 {
				t.Fatal("an anomaly without named reasons")
			}
		})
	}
}

func TestWarmupAndAnonymous(t *testing.T) {
	tr := baseline(t)
	// Bob is new: nothing he does is scored until he has a baseline.
	if sc := tr.Check(Observation{Identity: "bob", Endpoint: "GET /admin/export", SourceIP: netip.MustParseAddr("203.0.113.9"), At: day2}); sc.Anomaly != 0 {
		t.Fatalf("a new identity scored %v", sc.Anomaly)
	}
	if sc := tr.Check(Observation{Endpoint: usual, ObjectID: "x", At: day2}); sc != (Score{}) {
		t.Fatalf("an anonymous request scored %+v", sc)
	}
	if tr.Len() != 2 {
		t.Fatalf("tracked %d identities, want alice and bob", tr.Len())
	}
}

func TestRateSpike(t *testing.T) {
	tr := baseline(t)
	var sc Score
	for i := range 25 {
		sc = tr.Check(Observation{Identity: "alice", Endpoint: usual, ObjectID: "o-1", SourceIP: home, At: day2.Add(time.Duration(i) * time.Second)})
		if i < 19 && sc.Reasons&RateSpike != 0 {
			t.Fatalf("request %d of the minute is already a spike", i+1)
		}
	}
	if sc.Reasons&RateSpike == 0 || sc.RequestRate != 25 {
		t.Fatalf("25 requests in a minute (usually 1): %+v", sc)
	}
}

func TestEnumeration(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ids       int
		spacing   time.Duration
		repeat    bool // the same id each time
		enumerate bool
		distinct  int
	}{
		{"49 distinct ids in a minute", 49, time.Second, false, false, 49},
		{"50 distinct ids in a minute", 50, time.Second, false, true, 50},
		{"the same id 80 times", 80, 100 * time.Millisecond, true, false, 1},
		{"50 ids over 50 minutes", 50, time.Minute + time.Second, false, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Options{Window: time.Minute, EnumThreshold: 50})
			var sc Score
			for i := range tc.ids {
				id := fmt.Sprint("order-", i)
				if tc.repeat {
					id = "order-1"
				}
				sc = tr.Check(Observation{Identity: "mallory", Endpoint: usual, ObjectID: id, At: day1.Add(time.Duration(i) * tc.spacing)})
			}
			if sc.Enumeration != tc.enumerate || sc.DistinctObjects != tc.distinct {
				t.Fatalf("enumeration %v distinct %d, want %v %d", sc.Enumeration, sc.DistinctObjects, tc.enumerate, tc.distinct)
			}
		})
	}
	// Windows are per endpoint: ids spread over two endpoints do not add up.
	tr := New(Options{EnumThreshold: 10})
	var sc Score
	for i := range 18 {
		ep := []string{"GET /orders/{id}", "GET /carts/{id}"}[i%2]
		sc = tr.Check(Observation{Identity: "m", Endpoint: ep, ObjectID: fmt.Sprint(i), At: day1.Add(time.Duration(i) * time.Second)})
	}
	if sc.Enumeration || sc.DistinctObjects != 9 {
		t.Fatalf("two endpoints, 9 ids each: %+v", sc)
	}
}

// TestBounded: memory stays bounded however many identities call.
func TestBounded(t *testing.T) {
	tr := New(Options{MaxIdentities: 640})
	for i := range 20000 {
		tr.Check(Observation{Identity: fmt.Sprint("user-", i), Endpoint: fmt.Sprint("GET /e/", i%200), ObjectID: fmt.Sprint(i), At: day1})
	}
	if n := tr.Len(); n > 640 {
		t.Fatalf("%d identities kept, bound 640", n)
	}
	// One identity calling a thousand endpoints keeps at most maxEndpoints.
	for i := range 1000 {
		tr.Check(Observation{Identity: "wide", Endpoint: fmt.Sprint("GET /x/", i), At: day1})
	}
	for i := range tr.sh {
		if id := tr.sh[i].m["wide"]; id != nil && len(id.endpoints) > maxEndpoints {
			t.Fatalf("%d endpoints kept, bound %d", len(id.endpoints), maxEndpoints)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	tr := New(Options{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		tr.Check(Observation{Identity: "alice", Endpoint: usual, ObjectID: "o-1", SourceIP: home, At: day1.Add(time.Duration(i) * time.Millisecond)})
	}
}
