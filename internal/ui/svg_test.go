package ui

import (
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// wellFormed parses svg as XML and returns the elements with their
// attributes, in document order.
func wellFormed(t *testing.T, svg string) []xml.StartElement {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var els []xml.StartElement
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return els
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			els = append(els, se.Copy())
		}
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func withClass(els []xml.StartElement, class string) []xml.StartElement {
	var out []xml.StartElement
	for _, e := range els {
		for _, c := range strings.Fields(attr(e, "class")) {
			if c == class {
				out = append(out, e)
			}
		}
	}
	return out
}

const hostile = `<script>alert("x")</script>&'` + "\x00\xff"

func TestLineChart(t *testing.T) {
	start := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		chart  Chart
		series int
	}{
		{"empty", Chart{ID: "c", Title: "Nothing", Start: start, Step: time.Minute}, 0},
		{"one point", Chart{ID: "c", Title: "One", Start: start, Step: time.Minute, Series: []Series{{Name: "allow", Values: []float64{3}}}}, 1},
		{"decisions", Chart{ID: "rps-chart", Title: "Requests/s", Unit: "requests/s", Start: start, Step: time.Minute, Series: []Series{
			{Name: "allow", Values: []float64{1, 2.5, 0, 4}},
			{Name: "block", Values: []float64{0, 0.5, 7, 1}},
		}}, 2},
		{"hostile names", Chart{ID: "x\"y", Title: hostile, Unit: hostile, Start: start, Step: time.Minute, Series: []Series{
			{Name: hostile, Colour: `red" onload="x`, Values: []float64{1, 2}},
		}}, 1},
		{"days", Chart{ID: "c", Title: "Week", Start: start, Step: 24 * time.Hour, Series: []Series{{Name: "waf", Values: make([]float64, 7)}}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svg := string(LineChart(tc.chart))
			els := wellFormed(t, svg)
			if els[0].Name.Local != "svg" || attr(els[0], "role") != "img" {
				t.Errorf("root = %v", els[0])
			}
			if got := len(withClass(els, "series")); got != tc.series {
				t.Errorf("%d series drawn, want %d", got, tc.series)
			}
			if !strings.Contains(svg, "<title") {
				t.Error("no <title>")
			}
			if strings.Contains(svg, "<script") || strings.Contains(svg, "onload=") {
				t.Errorf("hostile text not escaped: %s", svg)
			}
		})
	}
	svg := string(LineChart(tests[2].chart))
	for _, want := range []string{`block 01:02:00: 7 requests/s`, `allow: 7.50 in total`, `fill="#b91c1c"`, ">01:00<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestGraphLayoutLayersByDepth(t *testing.T) {
	edges := []GraphEdge{
		{Source: "front-end", Destination: "orders"},
		{Source: "external", Destination: "front-end"},
		{Source: "orders", Destination: "payment.example"},
		{Source: "front-end", Destination: "catalogue"},
		{Source: "a", Destination: "b"}, {Source: "b", Destination: "a"}, // a cycle nobody enters
		{Source: "orders", Destination: "orders"},
	}
	layers, _ := graphLayout(edges)
	want := [][]string{{"a", "external"}, {"b", "front-end"}, {"catalogue", "orders"}, {"payment.example"}}
	if !reflect.DeepEqual(layers, want) {
		t.Errorf("layers = %v, want %v", layers, want)
	}
	// The same graph in another order draws the same.
	rev := make([]GraphEdge, len(edges))
	for i, e := range edges {
		rev[len(edges)-1-i] = e
	}
	if a, b := CallGraph(edges), CallGraph(edges); a != b {
		t.Error("CallGraph is not deterministic")
	}
	if l2, _ := graphLayout(rev); !reflect.DeepEqual(l2, want) {
		t.Errorf("layers depend on the edge order: %v", l2)
	}
}

func TestCallGraph(t *testing.T) {
	edges := []GraphEdge{
		{Source: "external", Destination: "front-end", Requests: 120, TLS: "TLS 1.3", Group: "X25519MLKEM768"},
		{Source: "front-end", Destination: "orders", Requests: 40, TLS: "1.3", Group: "X25519", MTLS: true},
		{Source: "orders", Destination: "payment.example", Requests: 9, TLS: "TLS 1.2", Group: "P-256", Legacy: true, Intercepted: true},
		{Source: "front-end", Destination: "legacy-db", Requests: 3, Plaintext: true},
		{Source: hostile, Destination: "x\"><g class=\"edge", Requests: 1},
	}
	svg := string(CallGraph(edges))
	els := wellFormed(t, svg)
	if attr(els[0], "id") != "graph" {
		t.Fatalf("root id = %q", attr(els[0], "id"))
	}
	got := withClass(els, "edge")
	if len(got) != len(edges) {
		t.Fatalf("%d g.edge, want %d", len(got), len(edges))
	}
	weak := map[string]bool{}
	for _, e := range withClass(els, "edge-weak") {
		weak[attr(e, "data-destination")] = true
	}
	if !reflect.DeepEqual(weak, map[string]bool{"payment.example": true, "legacy-db": true}) {
		t.Errorf("weak edges = %v, want the TLS 1.2 and the plaintext one", weak)
	}
	if attr(got[4], "data-source") != hostile[:len(hostile)-2]+"\uFFFD\uFFFD" {
		t.Errorf("hostile source attribute = %q", attr(got[4], "data-source"))
	}
	for _, want := range []string{
		"orders → payment.example: 9 requests; TLS 1.2; key exchange P-256; mTLS no; intercepted yes",
		"front-end → orders: 40 requests; TLS 1.3; key exchange X25519; mTLS yes; intercepted no",
		">TLS 1.2 · P-256<", ">intercepted · 9 req<", ">plaintext<", ">TLS 1.3 · X25519<", ">mTLS · 40 req<",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("graph lacks %q", want)
		}
	}
	if strings.Contains(svg, "<script") {
		t.Error("hostile name not escaped")
	}
	wellFormed(t, string(CallGraph(nil)))
}
