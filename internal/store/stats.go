package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/event"
)

// The dashboard's read models (migration 0006): a findings table with one
// row per finding and a per-minute traffic rollup, both written by
// InsertEvents in the transaction that stores the events, so the
// overview and findings pages read an index range of a bounded time
// window instead of event bodies.

// Stats are the dashboard's queries. Every method is bounded by a time
// window; the callers pick it (the last hour by default).
type Stats interface {
	// Overview counts the transactions of [Since, Until): per minute and
	// decision, by decision, the top endpoints, and the sources and
	// identities with the most refused (not allowed) transactions that
	// carried findings.
	Overview(ctx context.Context, f OverviewFilter) (Overview, error)
	// ListFindings returns findings newest first, one per row.
	ListFindings(ctx context.Context, f FindingFilter) (Page[FindingRow], error)
	// FindingSeries counts the findings f selects per time bucket of
	// width step, stage and decision, oldest bucket first. Filtered by
	// stage, decision and rule only, with whole-minute buckets from a minute
	// boundary, it reads the per-minute rollup (the minute holding Until
	// then counts whole).
	FindingSeries(ctx context.Context, f FindingFilter, step time.Duration) ([]FindingCount, error)
	// GetEvent returns the event stored under txnID, or ErrNotFound.
	GetEvent(ctx context.Context, txnID string) (event.Event, error)
}

var (
	_ Stats = (*sqliteStore)(nil)
	_ Stats = (*postgresStore)(nil)
)

// MaxTop bounds OverviewFilter.Top.
const MaxTop = 100

// minute is the rollup's bucket.
const minute = int64(time.Minute)

// OverviewFilter is the window of an overview; Top how many endpoints and
// offenders to list (10 when <= 0, at most MaxTop).
type OverviewFilter struct {
	Since, Until time.Time
	Top          int
}

// Overview is the traffic of one window. Minutes are whole minutes (the
// rollup's resolution): the window is widened to the minutes it touches.
type Overview struct {
	Minutes      []MinuteCount   `json:"minutes"`
	Decisions    []DecisionCount `json:"decisions"`
	TopEndpoints []EndpointCount `json:"top_endpoints"`
	TopOffenders []Offender      `json:"top_offenders"`
}

// Requests is the total of the window.
func (o Overview) Requests() int64 {
	var n int64
	for _, d := range o.Decisions {
		n += d.Requests
	}
	return n
}

// MinuteCount is the transactions of one minute with one decision.
type MinuteCount struct {
	Start    time.Time `json:"start"`
	Decision string    `json:"decision"`
	Requests int64     `json:"requests"`
}

// DecisionCount is the transactions with one decision.
type DecisionCount struct {
	Decision string `json:"decision"`
	Requests int64  `json:"requests"`
}

// EndpointCount is the traffic of one endpoint (host, method and the
// templated path), Refused those not allowed.
type EndpointCount struct {
	Host     string `json:"host"`
	Method   string `json:"method"`
	Endpoint string `json:"endpoint"`
	Requests int64  `json:"requests"`
	Refused  int64  `json:"refused"`
}

// Offender is a caller (source address and verified identity, "" when
// none) whose transactions were refused: Refused not allowed, Blocked
// blocked outright.
type Offender struct {
	SourceIP string `json:"source_ip"`
	Identity string `json:"identity"`
	Refused  int64  `json:"refused"`
	Blocked  int64  `json:"blocked"`
}

// FindingFilter selects findings. Zero fields do not filter; Identity is
// the verified identity's sub (or client_id when it has no sub), Source
// the client address.
type FindingFilter struct {
	Endpoint string
	Identity string
	Source   string
	RuleID   string
	Stage    string
	Decision string
	Since    time.Time // time >= Since
	Until    time.Time // time < Until
	Limit    int
	Cursor   string
}

// FindingRow is one finding and the facts of its transaction.
type FindingRow struct {
	TxnID    string    `json:"txn_id"`
	Time     time.Time `json:"time"`
	Stage    string    `json:"stage"`
	Layer    string    `json:"layer,omitempty"`
	RuleID   string    `json:"rule_id,omitempty"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity,omitempty"`
	Action   string    `json:"action,omitempty"`
	Message  string    `json:"message,omitempty"`
	Decision string    `json:"decision"`
	Host     string    `json:"host"`
	Method   string    `json:"method"`
	Endpoint string    `json:"endpoint"`
	SourceIP string    `json:"source_ip"`
	Identity string    `json:"identity,omitempty"`
}

// FindingCount is the number of findings of one stage and decision in the
// bucket starting at Start.
type FindingCount struct {
	Start    time.Time `json:"start"`
	Stage    string    `json:"stage"`
	Decision string    `json:"decision"`
	Findings int64     `json:"findings"`
}

const cursorFindings = "fd1"

// maxMessage bounds a finding's message in the findings table (the event
// keeps it whole).
const maxMessage = 512

// maxColumn bounds the other copied strings.
const maxColumn = 1024

// findingRow and trafficKey are what InsertEvents derives from the fresh
// events of a batch.
type findingRow struct {
	txnID                                            string
	ord                                              int
	timeNS                                           int64
	stage, layer, ruleID, kind, severity, action     string
	message, decision, host, method, endpoint, srcIP string
	identity                                         string
}

type trafficKey struct {
	minuteNS                         int64
	decision, host, method, endpoint string
}

type trafficRow struct {
	trafficKey
	requests int64
}

// column makes s storable by both backends (valid UTF-8 without NUL,
// PostgreSQL text) and at most n bytes.
func column(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) { // cut inside a rune
			s = s[:len(s)-1]
		}
	}
	return s
}

func floorMinute(ns int64) int64 {
	m := ns % minute
	if m < 0 {
		m += minute
	}
	return ns - m
}

// identityOf is the identity the dashboard names a caller by.
func identityOf(ev *event.Event) string {
	if id := ev.Identity; id != nil {
		if id.Sub != "" {
			return id.Sub
		}
		return id.ClientID
	}
	return ""
}

// findingMinute is the findings of one minute, stage, decision and rule.
type findingMinute struct {
	minuteNS                int64
	stage, decision, ruleID string
	findings                int64
}

// derived are the read-model rows of a batch.
type derived struct {
	findings []findingRow
	traffic  []trafficRow
	minutes  []findingMinute
}

// derive builds the read-model rows of the fresh transaction events of a
// batch: findings in batch order, the counts summed per key and sorted
// (two replicas upserting overlapping keys lock them in the same order).
func derive(evs []event.Event, fresh []bool) derived {
	var d derived
	counts := map[trafficKey]int64{}
	type fmKey struct {
		minuteNS                int64
		stage, decision, ruleID string
	}
	fcounts := map[fmKey]int64{}
	for i := range evs {
		ev := &evs[i]
		if !fresh[i] || ev.Type != "" {
			continue
		}
		ep := ev.Request.Endpoint
		if ep == "" {
			ep = ev.Request.Path
		}
		k := trafficKey{minuteNS: floorMinute(ev.Time.UnixNano()), decision: column(ev.Decision, maxColumn),
			host: column(ev.Destination.Host, maxColumn), method: column(ev.Request.Method, maxColumn), endpoint: column(ep, maxColumn)}
		counts[k]++
		if len(ev.Findings) == 0 {
			continue
		}
		src, idn := column(ev.Source.IP, maxColumn), column(identityOf(ev), maxColumn)
		for j := range ev.Findings {
			f := &ev.Findings[j]
			r := findingRow{txnID: ev.TxnID, ord: j, timeNS: ev.Time.UnixNano(),
				stage: column(f.Stage, maxColumn), layer: column(f.Layer, maxColumn), ruleID: column(f.RuleID, maxColumn),
				kind: column(f.Kind, maxColumn), severity: column(f.Severity, maxColumn), action: column(f.Action, maxColumn),
				message: column(f.Message, maxMessage), decision: k.decision, host: k.host, method: k.method,
				endpoint: k.endpoint, srcIP: src, identity: idn}
			d.findings = append(d.findings, r)
			fcounts[fmKey{k.minuteNS, r.stage, r.decision, r.ruleID}]++
		}
	}
	d.traffic = make([]trafficRow, 0, len(counts))
	for k, n := range counts {
		d.traffic = append(d.traffic, trafficRow{k, n})
	}
	slices.SortFunc(d.traffic, func(a, b trafficRow) int {
		return cmp.Or(cmp.Compare(a.minuteNS, b.minuteNS), strings.Compare(a.decision, b.decision),
			strings.Compare(a.host, b.host), strings.Compare(a.method, b.method), strings.Compare(a.endpoint, b.endpoint))
	})
	for k, n := range fcounts {
		d.minutes = append(d.minutes, findingMinute{k.minuteNS, k.stage, k.decision, k.ruleID, n})
	}
	slices.SortFunc(d.minutes, func(a, b findingMinute) int {
		return cmp.Or(cmp.Compare(a.minuteNS, b.minuteNS), strings.Compare(a.stage, b.stage), strings.Compare(a.decision, b.decision),
			strings.Compare(a.ruleID, b.ruleID))
	})
	return d
}

// pruneDerivedSQL trims the read models to the oldest event left.
var pruneDerivedSQL = []string{
	"DELETE FROM findings WHERE time_ns < coalesce((SELECT min(time_ns) FROM events), 9223372036854775807)",
	"DELETE FROM traffic_minutes WHERE minute_ns <= coalesce((SELECT min(time_ns) FROM events), 9223372036854775807) - 60000000000",
	"DELETE FROM finding_minutes WHERE minute_ns <= coalesce((SELECT min(time_ns) FROM events), 9223372036854775807) - 60000000000",
}

// window resolves an overview's bounds: the last hour when Since is zero,
// now when Until is zero.
func (f OverviewFilter) window(now time.Time) (since, until int64, top int, err error) {
	u, s := f.Until, f.Since
	if u.IsZero() {
		u = now
	}
	if s.IsZero() {
		s = u.Add(-time.Hour)
	}
	if !s.Before(u) {
		return 0, 0, 0, fmt.Errorf("store: overview: since %s is not before until %s", s.Format(time.RFC3339), u.Format(time.RFC3339))
	}
	top = f.Top
	switch {
	case top <= 0:
		top = 10
	case top > MaxTop:
		top = MaxTop
	}
	return s.UnixNano(), u.UnixNano(), top, nil
}

// overviewQueries are the SELECTs of an overview (the decisions are
// summed from the minutes); their arguments are (since, until) as
// minute_ns bounds for the rollup, or in ns for the findings table, then
// the limit.
func overviewQueries(ph func(int) string) (minutes, endpoints, offenders string) {
	rng := " WHERE minute_ns >= " + ph(1) + " AND minute_ns < " + ph(2)
	minutes = "SELECT minute_ns, decision, sum(requests) FROM traffic_minutes" + rng +
		" GROUP BY minute_ns, decision ORDER BY minute_ns, decision"
	endpoints = "SELECT host, method, endpoint, sum(requests) AS n, sum(CASE WHEN decision <> 'allow' THEN requests ELSE 0 END)" +
		" FROM traffic_minutes" + rng + " GROUP BY host, method, endpoint ORDER BY n DESC, host, method, endpoint LIMIT " + ph(3)
	offenders = "SELECT source_ip, identity, count(*) AS n, sum(CASE WHEN decision = 'block' THEN 1 ELSE 0 END)" +
		" FROM findings WHERE time_ns >= " + ph(1) + " AND time_ns < " + ph(2) + " AND ord = 0 AND decision <> 'allow'" +
		" GROUP BY source_ip, identity ORDER BY n DESC, source_ip, identity LIMIT " + ph(3)
	return
}

// rowsFunc runs a query and calls scan for every row.
type rowsFunc func(ctx context.Context, q string, args []any, scan func(rowSource) error) error

func sqliteRows(db *sql.DB) rowsFunc {
	return func(ctx context.Context, q string, args []any, scan func(rowSource) error) error {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

func postgresRows(q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) rowsFunc {
	return func(ctx context.Context, s string, args []any, scan func(rowSource) error) error {
		rows, err := q.Query(ctx, s, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

// overview runs the overview's queries through run.
func overview(ctx context.Context, run rowsFunc, ph func(int) string, f OverviewFilter) (Overview, error) {
	since, until, top, err := f.window(time.Now())
	if err != nil {
		return Overview{}, err
	}
	o := Overview{Minutes: []MinuteCount{}, Decisions: []DecisionCount{}, TopEndpoints: []EndpointCount{}, TopOffenders: []Offender{}}
	mArgs := []any{floorMinute(since), until, top}
	qm, qe, qo := overviewQueries(ph)
	byDecision := map[string]int64{}
	err = run(ctx, qm, mArgs[:2], func(r rowSource) error {
		var c MinuteCount
		var ns int64
		if err := r.Scan(&ns, &c.Decision, &c.Requests); err != nil {
			return err
		}
		c.Start = fromNS(ns)
		o.Minutes = append(o.Minutes, c)
		byDecision[c.Decision] += c.Requests
		return nil
	})
	for d, n := range byDecision {
		o.Decisions = append(o.Decisions, DecisionCount{Decision: d, Requests: n})
	}
	slices.SortFunc(o.Decisions, func(a, b DecisionCount) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Decision, b.Decision))
	})
	if err == nil {
		err = run(ctx, qe, mArgs, func(r rowSource) error {
			var c EndpointCount
			if err := r.Scan(&c.Host, &c.Method, &c.Endpoint, &c.Requests, &c.Refused); err != nil {
				return err
			}
			o.TopEndpoints = append(o.TopEndpoints, c)
			return nil
		})
	}
	if err == nil {
		err = run(ctx, qo, []any{since, until, top}, func(r rowSource) error {
			var c Offender
			if err := r.Scan(&c.SourceIP, &c.Identity, &c.Refused, &c.Blocked); err != nil {
				return err
			}
			o.TopOffenders = append(o.TopOffenders, c)
			return nil
		})
	}
	if err != nil {
		return Overview{}, fmt.Errorf("store: overview: %w", err)
	}
	return o, nil
}

// findingsWhere adds f's conditions to q; it reports false when a value
// cannot be stored (so nothing matches).
func findingsWhere(q *query, f FindingFilter) bool {
	for _, c := range []struct{ col, v string }{
		{"endpoint", f.Endpoint}, {"identity", f.Identity}, {"source_ip", f.Source},
		{"rule_id", f.RuleID}, {"stage", f.Stage}, {"decision", f.Decision},
	} {
		if c.v == "" {
			continue
		}
		if !storableText(c.v) {
			return false
		}
		q.cond(c.col + " = " + q.arg(c.v))
	}
	if !f.Since.IsZero() {
		q.cond("time_ns >= " + q.arg(f.Since.UnixNano()))
	}
	if !f.Until.IsZero() {
		q.cond("time_ns < " + q.arg(f.Until.UnixNano()))
	}
	return true
}

const findingCols = "time_ns, seq, txn_id, stage, layer, rule_id, kind, severity, action, message, decision, host, method, endpoint, source_ip, identity"

// findingsQuery is the SELECT of ListFindings (n+1 rows); none reports a
// filter nothing can match.
func findingsQuery(ph func(int) string, f FindingFilter, n int) (s string, args []any, none bool, err error) {
	q := query{ph: ph}
	if f.Cursor != "" {
		var parts []json.RawMessage
		if err := decodeCursor(f.Cursor, cursorFindings, 3, &parts); err != nil {
			return "", nil, false, err
		}
		var c eventCursor
		if json.Unmarshal(parts[1], &c.TimeNS) != nil || json.Unmarshal(parts[2], &c.Seq) != nil {
			return "", nil, false, ErrBadCursor
		}
		q.cond("(time_ns, seq) < (" + q.arg(c.TimeNS) + ", " + q.arg(c.Seq) + ")")
	}
	if !findingsWhere(&q, f) {
		return "", nil, true, nil
	}
	s = "SELECT " + findingCols + " FROM findings" + q.clause() + " ORDER BY time_ns DESC, seq DESC LIMIT " + q.arg(n+1)
	return s, q.args, false, nil
}

func listFindings(ctx context.Context, run rowsFunc, ph func(int) string, f FindingFilter) (Page[FindingRow], error) {
	n := limit(f.Limit)
	q, args, none, err := findingsQuery(ph, f, n)
	p := Page[FindingRow]{Items: []FindingRow{}}
	if err != nil || none {
		return p, err
	}
	var last eventCursor
	err = run(ctx, q, args, func(r rowSource) error {
		if len(p.Items) == n {
			p.NextCursor = encodeCursor([]any{cursorFindings, last.TimeNS, last.Seq})
			return nil
		}
		var x FindingRow
		if err := r.Scan(&last.TimeNS, &last.Seq, &x.TxnID, &x.Stage, &x.Layer, &x.RuleID, &x.Kind, &x.Severity, &x.Action,
			&x.Message, &x.Decision, &x.Host, &x.Method, &x.Endpoint, &x.SourceIP, &x.Identity); err != nil {
			return err
		}
		x.Time = fromNS(last.TimeNS)
		p.Items = append(p.Items, x)
		return nil
	})
	if err != nil {
		return Page[FindingRow]{}, fmt.Errorf("store: list findings: %w", err)
	}
	return p, nil
}

// MinStep is the narrowest FindingSeries bucket; MaxBuckets bounds how
// many buckets one series may span.
const (
	MinStep    = time.Second
	MaxBuckets = 10000
)

// rollupServes reports whether finding_minutes answers a series: filters
// by stage, decision and rule only, buckets of whole minutes from a minute
// boundary. (The minute holding Until counts whole: the callers end
// their windows now.)
func rollupServes(f FindingFilter, step time.Duration) bool {
	return f.Endpoint == "" && f.Identity == "" && f.Source == "" &&
		int64(step)%minute == 0 && f.Since.UnixNano()%minute == 0
}

func findingSeries(ctx context.Context, run rowsFunc, ph func(int) string, f FindingFilter, step time.Duration) ([]FindingCount, error) {
	if step < MinStep {
		return nil, fmt.Errorf("store: finding series: step %s is below %s", step, MinStep)
	}
	if f.Since.IsZero() || f.Until.IsZero() || !f.Since.Before(f.Until) {
		return nil, errors.New("store: finding series: needs since before until")
	}
	if f.Until.Sub(f.Since)/step > MaxBuckets {
		return nil, fmt.Errorf("store: finding series: more than %d buckets of %s", MaxBuckets, step)
	}
	f.Cursor = ""
	q := query{ph: ph}
	out := []FindingCount{}
	base := f.Since.UnixNano()
	var s string
	if rollupServes(f, step) {
		// Whole minutes from the rollup; the bucket's placeholders come
		// first in the text, so first in args (SQLite's are positional).
		b := "((minute_ns - " + q.arg(base) + ") / " + q.arg(int64(step)) + ")"
		q.cond("minute_ns >= " + q.arg(base))
		q.cond("minute_ns < " + q.arg(f.Until.UnixNano()))
		for _, c := range []struct{ col, v string }{{"stage", f.Stage}, {"decision", f.Decision}, {"rule_id", f.RuleID}} {
			if c.v == "" {
				continue
			}
			if !storableText(c.v) {
				return out, nil
			}
			q.cond(c.col + " = " + q.arg(c.v))
		}
		s = "SELECT " + b + " AS b, stage, decision, sum(findings) FROM finding_minutes" + q.clause() +
			" GROUP BY 1, stage, decision ORDER BY 1, stage, decision"
	} else {
		b := "((time_ns - " + q.arg(base) + ") / " + q.arg(int64(step)) + ")"
		if !findingsWhere(&q, f) {
			return out, nil
		}
		s = "SELECT " + b + " AS b, stage, decision, count(*) FROM findings" + q.clause() +
			" GROUP BY 1, stage, decision ORDER BY 1, stage, decision"
	}
	err := run(ctx, s, q.args, func(r rowSource) error {
		var c FindingCount
		var k int64
		if err := r.Scan(&k, &c.Stage, &c.Decision, &c.Findings); err != nil {
			return err
		}
		c.Start = fromNS(base + k*int64(step))
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: finding series: %w", err)
	}
	return out, nil
}

// --- SQLite ---

func (s *sqliteStore) Overview(ctx context.Context, f OverviewFilter) (Overview, error) {
	return overview(ctx, sqliteRows(s.r), sqlitePH, f)
}

func (s *sqliteStore) ListFindings(ctx context.Context, f FindingFilter) (Page[FindingRow], error) {
	return listFindings(ctx, sqliteRows(s.r), sqlitePH, f)
}

func (s *sqliteStore) FindingSeries(ctx context.Context, f FindingFilter, step time.Duration) ([]FindingCount, error) {
	return findingSeries(ctx, sqliteRows(s.r), sqlitePH, f, step)
}

func (s *sqliteStore) GetEvent(ctx context.Context, txnID string) (event.Event, error) {
	var body []byte
	err := s.r.QueryRowContext(ctx, "SELECT body FROM events WHERE txn_id = ?", txnID).Scan(&body)
	return decodeEvent(txnID, body, errors.Is(err, sql.ErrNoRows), err)
}

func decodeEvent(txnID string, body []byte, missing bool, err error) (event.Event, error) {
	if missing {
		return event.Event{}, ErrNotFound
	}
	if err != nil {
		return event.Event{}, fmt.Errorf("store: get event: %w", err)
	}
	var ev event.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return event.Event{}, fmt.Errorf("store: event %s: %w", txnID, err)
	}
	return ev, nil
}

// sqliteFindingCols is the number of columns of a findings INSERT.
const sqliteFindingCols = 16

// sqliteInsertDerived writes the read models of a batch in its transaction.
func sqliteInsertDerived(ctx context.Context, tx *sql.Tx, evs []event.Event, fresh []bool) error {
	d := derive(evs, fresh)
	fs, ts, ms := d.findings, d.traffic, d.minutes
	const chunk = 100
	for len(fs) > 0 {
		n := min(len(fs), chunk)
		var b strings.Builder
		b.WriteString("INSERT INTO findings (txn_id, ord, time_ns, stage, layer, rule_id, kind, severity, action, message," +
			" decision, host, method, endpoint, source_ip, identity) VALUES ")
		args := make([]any, 0, n*sqliteFindingCols)
		for i, r := range fs[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
			args = append(args, r.txnID, r.ord, r.timeNS, r.stage, r.layer, r.ruleID, r.kind, r.severity, r.action,
				r.message, r.decision, r.host, r.method, r.endpoint, r.srcIP, r.identity)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("findings: %w", err)
		}
		fs = fs[n:]
	}
	for len(ts) > 0 {
		n := min(len(ts), chunk)
		var b strings.Builder
		b.WriteString("INSERT INTO traffic_minutes (minute_ns, decision, host, method, endpoint, requests) VALUES ")
		args := make([]any, 0, n*6)
		for i, r := range ts[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?)")
			args = append(args, r.minuteNS, r.decision, r.host, r.method, r.endpoint, r.requests)
		}
		b.WriteString(" ON CONFLICT (minute_ns, decision, host, method, endpoint) DO UPDATE SET requests = requests + excluded.requests")
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("traffic: %w", err)
		}
		ts = ts[n:]
	}
	for len(ms) > 0 {
		n := min(len(ms), chunk)
		args := make([]any, 0, n*5)
		for _, r := range ms[:n] {
			args = append(args, r.minuteNS, r.stage, r.decision, r.ruleID, r.findings)
		}
		q := "INSERT INTO finding_minutes (minute_ns, stage, decision, rule_id, findings) VALUES (?,?,?,?,?)" + strings.Repeat(",(?,?,?,?,?)", n-1) +
			" ON CONFLICT (minute_ns, stage, decision, rule_id) DO UPDATE SET findings = findings + excluded.findings"
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("finding minutes: %w", err)
		}
		ms = ms[n:]
	}
	return nil
}

// --- PostgreSQL ---

func (s *postgresStore) Overview(ctx context.Context, f OverviewFilter) (Overview, error) {
	return overview(ctx, postgresRows(s.pool), postgresPH, f)
}

func (s *postgresStore) ListFindings(ctx context.Context, f FindingFilter) (Page[FindingRow], error) {
	return listFindings(ctx, postgresRows(s.pool), postgresPH, f)
}

func (s *postgresStore) FindingSeries(ctx context.Context, f FindingFilter, step time.Duration) ([]FindingCount, error) {
	return findingSeries(ctx, postgresRows(s.pool), postgresPH, f, step)
}

func (s *postgresStore) GetEvent(ctx context.Context, txnID string) (event.Event, error) {
	if !storableText(txnID) {
		return event.Event{}, ErrNotFound
	}
	var body []byte
	err := s.pool.QueryRow(ctx, "SELECT body::text FROM events WHERE txn_id = $1", txnID).Scan(&body)
	return decodeEvent(txnID, body, errors.Is(err, pgx.ErrNoRows), err)
}

// postgresInsertAll stores a batch of events and their read models in one
// statement (one round trip, one implicit transaction): $1-$6 are the
// events' columns; $7-$12 each candidate transaction's traffic key (its
// txn_id, minute, decision, host, method, endpoint) and $13-$29 each of
// its findings, with its minute. Only the candidates the INSERT stored
// (RETURNING: not already stored) are counted; the counts are summed per
// key and upserted in key order, so replicas lock them in the same order.
const postgresInsertAll = `WITH u AS (
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS u(t, ts, d, e, ty, b, n)
), ins AS (
	INSERT INTO events (txn_id, time_ns, decision, endpoint, type, body)
	SELECT t, ts, d, e, ty, b::json FROM u ORDER BY n
	ON CONFLICT (txn_id) DO NOTHING
	RETURNING txn_id
), tr AS (
	INSERT INTO traffic_minutes (minute_ns, decision, host, method, endpoint, requests)
	SELECT x.m, x.d, x.h, x.me, x.e, count(*)
	FROM unnest($7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[]) AS x(t, m, d, h, me, e)
	WHERE x.t COLLATE "C" IN (SELECT txn_id FROM ins)
	GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
	ON CONFLICT (minute_ns, decision, host, method, endpoint) DO UPDATE SET requests = traffic_minutes.requests + excluded.requests
), f AS (
	SELECT * FROM unnest($13::text[], $14::int[], $15::bigint[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
		$21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[], $29::bigint[])
		WITH ORDINALITY AS f(txn_id, ord, time_ns, stage, layer, rule_id, kind, severity, action, message,
			decision, host, method, endpoint, source_ip, identity, minute_ns, n)
	WHERE f.txn_id COLLATE "C" IN (SELECT txn_id FROM ins)
), fi AS (
	INSERT INTO findings (txn_id, ord, time_ns, stage, layer, rule_id, kind, severity, action, message,
		decision, host, method, endpoint, source_ip, identity)
	SELECT txn_id, ord, time_ns, stage, layer, rule_id, kind, severity, action, message,
		decision, host, method, endpoint, source_ip, identity
	FROM f ORDER BY n
), fm AS (
	INSERT INTO finding_minutes (minute_ns, stage, decision, rule_id, findings)
	SELECT minute_ns, stage, decision, rule_id, count(*) FROM f
	GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
	ON CONFLICT (minute_ns, stage, decision, rule_id) DO UPDATE SET findings = finding_minutes.findings + excluded.findings
)
SELECT txn_id FROM ins`

// postgresDerivedArgs are $7-$29 of postgresInsertAll: the candidates are
// the first event of each txn_id in the batch (a repeat is not fresh).
func postgresDerivedArgs(evs []event.Event) []any {
	cand := make([]bool, len(evs))
	seen := make(map[string]struct{}, len(evs))
	for i := range evs {
		if _, dup := seen[evs[i].TxnID]; !dup {
			seen[evs[i].TxnID] = struct{}{}
			cand[i] = true
		}
	}
	var tt, td, th, tm, te []string
	var tmin []int64
	for i := range evs {
		ev := &evs[i]
		if !cand[i] || ev.Type != "" {
			continue
		}
		ep := ev.Request.Endpoint
		if ep == "" {
			ep = ev.Request.Path
		}
		tt = append(tt, ev.TxnID)
		tmin = append(tmin, floorMinute(ev.Time.UnixNano()))
		td = append(td, column(ev.Decision, maxColumn))
		th = append(th, column(ev.Destination.Host, maxColumn))
		tm = append(tm, column(ev.Request.Method, maxColumn))
		te = append(te, column(ep, maxColumn))
	}
	fs := derive(evs, cand).findings
	cols := make([][]string, 14)
	for i := range cols {
		cols[i] = make([]string, len(fs))
	}
	ords, times, mins := make([]int32, len(fs)), make([]int64, len(fs)), make([]int64, len(fs))
	for i, r := range fs {
		ords[i], times[i], mins[i] = int32(r.ord), r.timeNS, floorMinute(r.timeNS)
		for j, v := range [...]string{r.txnID, r.stage, r.layer, r.ruleID, r.kind, r.severity, r.action,
			r.message, r.decision, r.host, r.method, r.endpoint, r.srcIP, r.identity} {
			cols[j][i] = v
		}
	}
	return []any{tt, tmin, td, th, tm, te,
		cols[0], ords, times, cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9],
		cols[10], cols[11], cols[12], cols[13], mins}
}
