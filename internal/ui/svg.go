package ui

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Server-rendered SVG: the time-series charts of the overview and findings
// pages and the call graph of the risk page. Pure functions of their
// input; every name is escaped, colours are presentation attributes (the
// CSP forbids inline style), and every mark has a <title> for screen
// readers and hover.

// palette colours series in order; the decisions have fixed ones.
var palette = [...]string{"#2563eb", "#dc2626", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#4b5563", "#ea580c"}

var decisionColour = map[string]string{"allow": "#15803d", "block": "#b91c1c", "challenge": "#d97706", "step_up": "#7c3aed"}

// Series is one line of a chart: a value per bucket.
type Series struct {
	Name   string
	Colour string // "" picks from the palette
	Values []float64
}

// Chart is a time-series line chart: len(Values) buckets of Step from
// Start in every series.
type Chart struct {
	ID     string // element id of the <svg>
	Title  string
	Unit   string // of the y axis ("requests/s", "findings")
	Start  time.Time
	Step   time.Duration
	Series []Series
	Width  int // default 900
	Height int // default 260
}

// esc escapes s for XML text and attribute values; invalid UTF-8 and
// control characters become U+FFFD (XML 1.0 cannot carry them).
func esc(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteString("\uFFFD")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '"':
			b.WriteString("&#34;")
		case r == '\'':
			b.WriteString("&#39;")
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
			b.WriteString("\uFFFD")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// niceMax rounds m up to 1, 2 or 5 times a power of ten.
func niceMax(m float64) float64 {
	if m <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(m)))
	for _, f := range []float64{1, 2, 5, 10} {
		if m <= f*p {
			return f * p
		}
	}
	return 10 * p
}

// fmtValue prints a value for an axis or a title.
func fmtValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	if math.Abs(v) >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// LineChart renders c as an inline <svg>.
func LineChart(c Chart) template.HTML {
	w, h := cmp.Or(c.Width, 900), cmp.Or(c.Height, 260)
	const left, right, top, bottom = 56, 16, 16, 56
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	n := 0
	maxV := 0.0
	for _, s := range c.Series {
		n = max(n, len(s.Values))
		for _, v := range s.Values {
			maxV = max(maxV, v)
		}
	}
	top10 := niceMax(maxV)
	var b strings.Builder
	titleID := esc(c.ID) + "-title"
	fmt.Fprintf(&b, `<svg id="%s" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s">`,
		esc(c.ID), w, h, titleID)
	fmt.Fprintf(&b, `<title id="%s">%s</title>`, titleID, esc(c.Title))
	// Grid and y axis: five steps (niceMax/5 is a round number).
	for i := 0; i <= 5; i++ {
		y := float64(top) + ph - ph*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#e1e6ec"/>`, left, fnum(y), w-right, fnum(y))
		fmt.Fprintf(&b, `<text x="%d" y="%s" font-size="11" text-anchor="end" fill="#5f6b7a">%s</text>`, left-6, fnum(y+4), esc(fmtValue(top10*float64(i)/5)))
	}
	fmt.Fprintf(&b, `<text x="12" y="%d" font-size="11" fill="#5f6b7a" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`,
		top+int(ph/2), top+int(ph/2), esc(c.Unit))
	x := func(i int) float64 {
		if n <= 1 {
			return float64(left) + pw/2
		}
		return float64(left) + pw*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return float64(top) + ph - ph*v/top10 }
	// X axis: about six time labels.
	if n > 0 && c.Step > 0 {
		every := max(1, (n+5)/6)
		layout := "15:04"
		if c.Step >= 24*time.Hour {
			layout = "Jan 2"
		} else if time.Duration(n)*c.Step > 24*time.Hour {
			layout = "Jan 2 15:04"
		}
		for i := 0; i < n; i += every {
			t := c.Start.Add(time.Duration(i) * c.Step).UTC()
			fmt.Fprintf(&b, `<text x="%s" y="%d" font-size="11" text-anchor="middle" fill="#5f6b7a">%s</text>`, fnum(x(i)), top+int(ph)+16, esc(t.Format(layout)))
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9aa5b1"/>`, left, top+int(ph), w-right, top+int(ph))
	if n == 0 || len(c.Series) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="middle" fill="#5f6b7a">No data in this window</text>`, left+int(pw/2), top+int(ph/2))
	}
	// Series, then the legend below the axis.
	lx := float64(left)
	for si, s := range c.Series {
		col := seriesColour(s, si)
		total := 0.0
		for _, v := range s.Values {
			total += v
		}
		fmt.Fprintf(&b, `<g class="series" data-series="%s"><title>%s: %s in total</title>`, esc(s.Name), esc(s.Name), esc(fmtValue(total)))
		var pts strings.Builder
		for i, v := range s.Values {
			if i > 0 {
				pts.WriteByte(' ')
			}
			pts.WriteString(fnum(x(i)) + "," + fnum(y(v)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, col, pts.String())
		for i, v := range s.Values {
			if v == 0 {
				continue
			}
			t := c.Start.Add(time.Duration(i) * c.Step).UTC()
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"><title>%s %s: %s %s</title></circle>`,
				fnum(x(i)), fnum(y(v)), col, esc(s.Name), t.Format("15:04:05"), esc(fmtValue(v)), esc(c.Unit))
		}
		b.WriteString(`</g>`)
		name := clip(s.Name, 28)
		fmt.Fprintf(&b, `<g class="legend-item"><rect x="%s" y="%d" width="12" height="12" rx="2" fill="%s"/><text x="%s" y="%d" font-size="12" fill="#1b2430">%s</text></g>`,
			fnum(lx), h-22, col, fnum(lx+16), h-12, esc(name))
		lx += 16 + 7.2*float64(utf8.RuneCountInString(name)) + 18
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: built from escaped parts
}

func seriesColour(s Series, i int) string {
	if s.Colour != "" && validColour(s.Colour) {
		return s.Colour
	}
	if c, ok := decisionColour[s.Name]; ok {
		return c
	}
	return palette[i%len(palette)]
}

// validColour admits #rgb and #rrggbb only.
func validColour(c string) bool {
	if len(c) != 4 && len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// GraphEdge is one caller → callee edge of the call graph.
type GraphEdge struct {
	Source, Destination string
	Requests            int64
	// TLS is the version of the latest request ("" with Plaintext).
	TLS       string
	Group     string
	MTLS      bool // all of its requests were mutual TLS
	Plaintext bool // some requests arrived without TLS
	Legacy    bool // some requests used TLS 1.2 or older
	// Intercepted: the sidecar terminated the caller's TLS to inspect it.
	Intercepted bool
}

// Label is the edge's short description, in two lines: the TLS version
// and key exchange group (or plaintext), then mTLS, intercepted and the
// request count.
func (e GraphEdge) Label() (tls, flags string) {
	switch {
	case e.TLS == "" && e.Plaintext:
		tls = "plaintext"
	case e.TLS != "":
		tls = tlsName(e.TLS)
		if e.Group != "" {
			tls += " · " + e.Group
		}
		if e.Plaintext {
			tls += " + plaintext"
		}
	default:
		tls = "TLS unknown"
	}
	var parts []string
	if e.MTLS {
		parts = append(parts, "mTLS")
	}
	if e.Intercepted {
		parts = append(parts, "intercepted")
	}
	parts = append(parts, strconv.FormatInt(e.Requests, 10)+" req")
	return tls, strings.Join(parts, " · ")
}

// TLSName is the edge's TLS version as "TLS 1.3" ("" for none).
func (e GraphEdge) TLSName() string {
	if e.TLS == "" {
		return ""
	}
	return tlsName(e.TLS)
}

// Weak reports an edge to mark: plaintext or legacy TLS.
func (e GraphEdge) Weak() bool { return e.Plaintext || e.Legacy }

// Title is the edge's full description.
func (e GraphEdge) Title() string {
	tls := "no TLS (plaintext)"
	if e.TLS != "" {
		tls = tlsName(e.TLS)
	}
	group := e.Group
	if group == "" {
		group = "n/a"
	}
	return fmt.Sprintf("%s → %s: %d requests; %s; key exchange %s; mTLS %s; intercepted %s",
		e.Source, e.Destination, e.Requests, tls, group, yesNo(e.MTLS), yesNo(e.Intercepted))
}

// tlsName spells a version as "TLS 1.3" whether it came as "1.3" or
// "TLSv1.3".
func tlsName(v string) string {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "TLSv"), "TLS ")
	return "TLS " + v
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// graphLayout places nodes in layers by call depth: the callers nobody
// calls first, then each node one layer right of its nearest caller (a
// breadth-first walk in name order, so the same graph always draws the
// same). Nodes only reachable through a cycle start a layer of their own
// at depth 0.
func graphLayout(edges []GraphEdge) (layers [][]string, at map[string][2]int) {
	out := map[string][]string{}
	in := map[string]int{}
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, e := range edges {
		add(e.Source)
		add(e.Destination)
		if e.Source != e.Destination {
			out[e.Source] = append(out[e.Source], e.Destination)
			in[e.Destination]++
		}
	}
	slices.Sort(names)
	depth := map[string]int{}
	var queue []string
	for _, n := range names {
		if in[n] == 0 {
			depth[n] = 0
			queue = append(queue, n)
		}
	}
	walk := func() {
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			next := slices.Clone(out[n])
			slices.Sort(next)
			for _, m := range next {
				if _, ok := depth[m]; !ok {
					depth[m] = depth[n] + 1
					queue = append(queue, m)
				}
			}
		}
	}
	walk()
	for _, n := range names { // cycles with no entry
		if _, ok := depth[n]; !ok {
			depth[n] = 0
			queue = append(queue, n)
			walk()
		}
	}
	at = map[string][2]int{}
	for _, n := range names {
		d := depth[n]
		for len(layers) <= d {
			layers = append(layers, nil)
		}
		at[n] = [2]int{d, len(layers[d])}
		layers[d] = append(layers[d], n)
	}
	return layers, at
}

// CallGraph renders the workload call graph as an inline <svg id="graph">:
// one g.edge per edge (data-source, data-destination, a <title> with every
// TLS fact and a visible label), plaintext and legacy-TLS edges red and
// dashed, intercepted ones with an orange ring at the callee's end.
func CallGraph(edges []GraphEdge) template.HTML {
	layers, at := graphLayout(edges)
	const colW, rowH, nodeW, nodeH, margin = 360, 96, 170, 44, 48
	rows := 1
	for _, l := range layers {
		rows = max(rows, len(l))
	}
	// A small graph is centred in a canvas of minGraphW, so the page's
	// full width does not blow it up.
	const minGraphW = 1240
	natural := margin*2 + max(1, len(layers))*colW - (colW - nodeW)
	w, shift := max(natural, minGraphW), (max(natural, minGraphW)-natural)/2
	h := margin*2 + rows*rowH + 24
	pos := func(n string) (x, y float64) {
		p := at[n]
		x = float64(shift + margin + p[0]*colW)
		// Centre each layer vertically.
		off := float64(rows-len(layers[p[0]])) * rowH / 2
		y = float64(margin) + off + float64(p[1]*rowH)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="graph" class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="graph-title">`, w, h)
	fmt.Fprintf(&b, `<title id="graph-title">Call graph: %d workloads, %d edges</title>`, len(at), len(edges))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker>` +
		`<marker id="arrow-weak" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b91c1c"/></marker></defs>`)
	if len(edges) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" fill="#5f6b7a">No calls observed yet</text>`, margin, margin+20)
	}
	// Edges below the nodes.
	var placed [][3]float64 // label boxes drawn: x, y, width (height 28)
	for i, e := range edges {
		sx, sy := pos(e.Source)
		dx, dy := pos(e.Destination)
		x1, y1 := sx+nodeW, sy+nodeH/2
		x2, y2 := dx, dy+nodeH/2
		var d string
		switch {
		case e.Source == e.Destination: // a loop above the node
			d = fmt.Sprintf("M%s,%s C%s,%s %s,%s %s,%s", fnum(sx+nodeW*0.7), fnum(sy), fnum(sx+nodeW*0.9), fnum(sy-36), fnum(sx+nodeW*0.3), fnum(sy-36), fnum(sx+nodeW*0.3), fnum(sy))
		case x2 <= x1: // backwards or within a layer: arc below
			x1, y1 = sx+nodeW/2, sy+nodeH
			x2, y2 = dx+nodeW/2, dy+nodeH
			bend := 40 + 10*float64(i%4)
			d = fmt.Sprintf("M%s,%s C%s,%s %s,%s %s,%s", fnum(x1), fnum(y1), fnum(x1), fnum(max(y1, y2)+bend), fnum(x2), fnum(max(y1, y2)+bend), fnum(x2), fnum(y2))
		default:
			mx := (x1 + x2) / 2
			d = fmt.Sprintf("M%s,%s C%s,%s %s,%s %s,%s", fnum(x1), fnum(y1), fnum(mx), fnum(y1), fnum(mx), fnum(y2), fnum(x2), fnum(y2))
		}
		stroke, marker, dash, class := "#6b7280", "arrow", "", "edge"
		if e.Weak() {
			stroke, marker, dash, class = "#b91c1c", "arrow-weak", ` stroke-dasharray="6 4"`, "edge edge-weak"
		}
		width := 1.5 + math.Min(3, math.Log10(float64(max(1, e.Requests))))
		fmt.Fprintf(&b, `<g class="%s" data-source="%s" data-destination="%s" data-tls="%s" data-mtls="%s" data-intercepted="%s"><title>%s</title>`,
			class, esc(e.Source), esc(e.Destination), esc(e.TLS), yesNo(e.MTLS), yesNo(e.Intercepted), esc(e.Title()))
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="%s"%s marker-end="url(#%s)"/>`, d, stroke, fnum(width), dash, marker)
		if e.Intercepted {
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="6" fill="none" stroke="#ea580c" stroke-width="2"/>`, fnum(x2-10), fnum(y2))
		}
		// The label sits on the curve: nearer the callee on a descending
		// edge, nearer the caller on a rising one, so two edges crossing
		// between the same layers keep their labels apart; a label that
		// still meets one placed before moves down.
		t := 0.5
		switch {
		case y2 > y1:
			t = 0.64
		case y2 < y1:
			t = 0.36
		}
		mx := (x1 + x2) / 2
		lx, ly := bezier(t, x1, mx, mx, x2), bezier(t, y1, y1, y2, y2)-6
		if e.Source == e.Destination {
			lx, ly = sx+nodeW/2, sy-40
		} else if x2 <= x1 {
			lx, ly = (x1+x2)/2, max(y1, y2)+30+10*float64(i%4)
		}
		labelCol := "#374151"
		if e.Weak() {
			labelCol = "#b91c1c"
		}
		l1, l2 := e.Label()
		l1, l2 = clip(l1, 30), clip(l2, 30)
		bw := 6.4*float64(max(utf8.RuneCountInString(l1), utf8.RuneCountInString(l2))) + 10
		for range 6 {
			hit := false
			for _, r := range placed {
				if lx-bw/2 < r[0]+r[2] && r[0] < lx+bw/2 && ly-11 < r[1]+28 && r[1] < ly+17 {
					hit = true
					break
				}
			}
			if !hit {
				break
			}
			ly += 30
		}
		placed = append(placed, [3]float64{lx - bw/2, ly - 11, bw})
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="28" rx="4" fill="#ffffff" fill-opacity="0.88"/>`, fnum(lx-bw/2), fnum(ly-11), fnum(bw))
		fmt.Fprintf(&b, `<text class="edge-label" x="%s" y="%s" font-size="11" text-anchor="middle" fill="%s">%s</text>`,
			fnum(lx), fnum(ly), labelCol, esc(l1))
		fmt.Fprintf(&b, `<text class="edge-flags" x="%s" y="%s" font-size="10" text-anchor="middle" fill="#4b5563">%s</text></g>`,
			fnum(lx), fnum(ly+13), esc(l2))
	}
	names := make([]string, 0, len(at))
	for n := range at {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		x, y := pos(n)
		name, sub := nodeName(n)
		fmt.Fprintf(&b, `<g class="node" data-name="%s"><title>%s</title><rect x="%s" y="%s" width="%d" height="%d" rx="8" fill="#ffffff" stroke="#1e3a8a" stroke-width="1.5"/>`,
			esc(n), esc(n), fnum(x), fnum(y), nodeW, nodeH)
		if sub == "" {
			fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12.5" text-anchor="middle" fill="#111827">%s</text></g>`,
				fnum(x+nodeW/2), fnum(y+nodeH/2+4), esc(clip(name, 24)))
			continue
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12.5" text-anchor="middle" fill="#111827">%s</text><text x="%s" y="%s" font-size="9.5" text-anchor="middle" fill="#6b7280">%s</text></g>`,
			fnum(x+nodeW/2), fnum(y+nodeH/2-1), esc(clip(name, 24)), fnum(x+nodeW/2), fnum(y+nodeH/2+12), esc(clip(sub, 30)))
	}
	// Key.
	fmt.Fprintf(&b, `<g class="graph-key"><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#6b7280" stroke-width="2"/><text x="%d" y="%d" font-size="11" fill="#374151">TLS</text>`,
		margin, h-14, margin+28, h-14, margin+34, h-10)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#b91c1c" stroke-width="2" stroke-dasharray="6 4"/><text x="%d" y="%d" font-size="11" fill="#b91c1c">plaintext or TLS 1.2 and older</text>`,
		margin+70, h-14, margin+98, h-14, margin+104, h-10)
	fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="6" fill="none" stroke="#ea580c" stroke-width="2"/><text x="%d" y="%d" font-size="11" fill="#374151">intercepted by the sidecar</text></g>`,
		margin+300, h-14, margin+312, h-10)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: built from escaped parts
}

// nodeName splits a workload name for its box: a SPIFFE ID shows its
// path, with the trust domain below; other names show whole.
func nodeName(n string) (name, sub string) {
	rest, ok := strings.CutPrefix(n, "spiffe://")
	if !ok {
		return n, ""
	}
	domain, path, ok := strings.Cut(rest, "/")
	if !ok || path == "" {
		return n, ""
	}
	return path, "spiffe://" + domain
}

// bezier is one coordinate of the cubic Bézier curve p0..p3 at t.
func bezier(t, p0, p1, p2, p3 float64) float64 {
	u := 1 - t
	return u*u*u*p0 + 3*u*u*t*p1 + 3*u*t*t*p2 + t*t*t*p3
}
