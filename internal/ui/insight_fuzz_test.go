package ui

import (
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzFindingsQuery: any query string is either refused with a 400 naming
// a parameter or accepted, and an accepted one survives its own encoding
// (the paging and filter links) unchanged.
func FuzzFindingsQuery(f *testing.F) {
	for _, s := range []string{"", "since=1h", "since=7d&stage=waf", "decision=block&rule_id=942100", "since=2026-12-08T01:00:00Z",
		"identity=%00", "since=99999999999d", "since=1e9h", "source=::1&endpoint=/a%2Fb", "cursor=abc"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, since, err := parseFindingsQuery(v, now)
		if err != nil {
			var pe *pageError
			if !errors.As(err, &pe) || pe.status != 400 {
				t.Fatalf("%q: %v is not a 400", raw, err)
			}
			return
		}
		if since.After(now) || now.Sub(since) > maxWindow {
			t.Fatalf("%q: since %s outside the window", raw, since)
		}
		v2, err := url.ParseQuery(q.encode(true))
		if err != nil {
			t.Fatal(err)
		}
		q2, since2, err := parseFindingsQuery(v2, now)
		if err != nil || q2 != q || !since2.Equal(since) {
			t.Fatalf("%q: re-parsed %+v (%v), want %+v", raw, q2, err, q)
		}
	})
}

// FuzzSVG: whatever the names, the chart and the graph are well-formed
// XML whose text holds the names.
func FuzzSVG(f *testing.F) {
	f.Add("front-end", "orders", "TLS 1.3")
	f.Add("<script>", "a&b\"'", "\x00\xff")
	f.Add("\uFFFD", "]]>", "\ufffe")
	f.Fuzz(func(t *testing.T, a, b, v string) {
		for _, svg := range []string{
			string(LineChart(Chart{ID: a, Title: b, Unit: v, Start: time.Unix(0, 0), Step: time.Minute, Series: []Series{{Name: a, Values: []float64{1, 2}}, {Name: b, Colour: v}}})),
			string(CallGraph([]GraphEdge{{Source: a, Destination: b, TLS: v, Group: v, Requests: 3}, {Source: b, Destination: a, Plaintext: true}, {Source: a, Destination: a}})),
		} {
			d := xml.NewDecoder(strings.NewReader(svg))
			for {
				_, err := d.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("not XML (%v): %s", err, svg)
				}
			}
		}
	})
}
