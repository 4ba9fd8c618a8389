package store_test

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/risk"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

// apacheLogs is the project's sample of real traffic (10,000 lines of
// Apache combined log), beside the repository.
const apacheLogs = "../../../shared/data/apache_logs"

var combined = regexp.MustCompile(`^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"`)

// realEvents turns the sample log into events; when the file is absent it
// falls back to generated ones.
func realEvents(tb testing.TB) []event.Event {
	f, err := os.Open(apacheLogs)
	if err != nil {
		tb.Logf("%s not found, using generated events", apacheLogs)
		return storetest.Events("gen", 10000, time.Now())
	}
	defer f.Close()
	var evs []event.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := combined.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[2])
		if err != nil {
			continue
		}
		status, _ := strconv.Atoi(m[5])
		size, _ := strconv.ParseInt(m[6], 10, 64)
		dec := event.DecisionAllow
		if status == 403 || status == 404 && len(evs)%7 == 0 {
			dec = event.DecisionBlock
		}
		evs = append(evs, event.Event{
			Time: ts.UTC(), Placement: "gateway", Mode: "enforce", Route: "site",
			Source:      event.Source{IP: m[1]},
			Destination: event.Destination{Host: "semicomplete.com", Upstream: "http://127.0.0.1:9000"},
			Request:     event.Request{Method: m[3], Path: m[4], Endpoint: m[4], UserAgent: m[7]},
			Response:    event.Response{Status: status, Bytes: size},
			Decision:    dec,
			Latency:     event.Latency{Total: 2.4, Vigil: 0.2},
		})
	}
	if len(evs) == 0 {
		tb.Fatalf("%s: no combined-log lines", apacheLogs)
	}
	return evs
}

// benchIngest inserts batches of 500 events with fresh txn_ids and reports
// sustained events/s.
func benchIngest(b *testing.B, newDB storetest.NewDB) {
	const batch = 500
	dsn, dir := newDB(b)
	ctx := context.Background()
	s, err := store.Open(ctx, dsn, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	src := realEvents(b)
	buf := make([]event.Event, batch)
	var n, next int
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		for i := range buf {
			buf[i] = src[next%len(src)]
			buf[i].TxnID = "b" + strconv.Itoa(next)
			next++
		}
		if _, err := s.InsertEvents(ctx, buf); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	// This process's CPU per event (user+sys; for PostgreSQL the server's
	// share is not included): unlike events/s it does not depend on what
	// else the shared machine runs.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/event")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkIngestSQLite(b *testing.B)   { benchIngest(b, storetest.SQLite) }
func BenchmarkIngestPostgres(b *testing.B) { benchIngest(b, storetest.Postgres) }

// benchConnections upserts batches of 2,000 call-graph deltas, half of them
// edges already stored, and reports edges/s.
func benchConnections(b *testing.B, newDB storetest.NewDB) {
	const batch = 2000
	dsn, dir := newDB(b)
	ctx := context.Background()
	s, err := store.Open(ctx, dsn, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	buf := make([]risk.Edge, batch)
	t0 := time.Now()
	var n, round int
	b.ReportAllocs()
	for b.Loop() {
		for i := range buf {
			// Each round shares half its edges with the one before.
			k := round*batch/2 + i
			buf[i] = risk.Edge{Source: "caller-" + strconv.Itoa(k%97), Destination: "svc-" + strconv.Itoa(k),
				Requests: 5, Authenticated: 4, MTLS: 3, TLS13: 5, TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256",
				Group: "X25519", FirstSeen: t0, LastSeen: t0.Add(time.Duration(round))}
		}
		if err := s.UpsertConnections(ctx, buf); err != nil {
			b.Fatal(err)
		}
		n += batch
		round++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "edges/s")
}

func BenchmarkConnectionsSQLite(b *testing.B)   { benchConnections(b, storetest.SQLite) }
func BenchmarkConnectionsPostgres(b *testing.B) { benchConnections(b, storetest.Postgres) }
