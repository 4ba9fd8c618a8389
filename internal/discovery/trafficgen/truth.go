package trafficgen

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// Truth is what the traffic contains: per operation its method, template
// and hits, and how much noise there is.
type Truth struct {
	Specs []TruthSpec `json:"specs"`
	Seed  uint64      `json:"seed"`
	// Requests is the number of requests written; API of them went to
	// operations, the rest is Noise by class (static, probe, preflight).
	Requests int            `json:"requests"`
	API      int            `json:"api_requests"`
	Noise    map[string]int `json:"noise"`
	// Rejected counts requests dropped because no value could be found
	// that keeps the path on its operation (should be 0).
	Rejected   int       `json:"rejected"`
	Operations []TruthOp `json:"operations"`
}

// TruthSpec names one spec of the traffic.
type TruthSpec struct {
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
	Host  string `json:"host"`
}

// TruthOp is one operation: Template is the spec's path template with
// every parameter named {parameter} (what discovery prints); the spec's
// own paths that share it (a path key with a literal query) are merged.
type TruthOp struct {
	Spec        string `json:"spec"`
	Host        string `json:"host"`
	Method      string `json:"method"`
	Template    string `json:"template"`
	SpecPath    string `json:"spec_path"`
	OperationID string `json:"operation_id,omitempty"`
	Hits        int    `json:"hits"`
}

type truthKey struct{ spec, method, template string }

type truthBuilder struct {
	Truth
	idx map[truthKey]int
}

func newTruth(g *Generator) *truthBuilder {
	t := &truthBuilder{Truth: Truth{Seed: g.opts.Seed, Noise: map[string]int{}}, idx: map[truthKey]int{}}
	for _, s := range g.specs {
		t.Specs = append(t.Specs, TruthSpec{Name: s.Name, Title: s.Title, Host: s.Host})
	}
	for _, o := range g.ops {
		s := g.specs[o.spec]
		k := truthKey{s.Name, o.op.Method, Normalize(o.op.Path)}
		if _, ok := t.idx[k]; ok {
			continue
		}
		t.idx[k] = len(t.Operations)
		t.Operations = append(t.Operations, TruthOp{Spec: s.Name, Host: s.Host, Method: o.op.Method,
			Template: k.template, SpecPath: o.op.Path, OperationID: o.op.OperationID})
	}
	return t
}

func (t *truthBuilder) count(r *Request) {
	t.Requests++
	if r.Class != ClassAPI {
		t.Noise[r.Class]++
		return
	}
	t.API++
	t.Operations[t.idx[truthKey{r.Spec, r.Method, r.Template}]].Hits++
}

func (t *truthBuilder) finish() *Truth {
	sort.SliceStable(t.Operations, func(i, j int) bool {
		a, b := t.Operations[i], t.Operations[j]
		if a.Spec != b.Spec {
			return a.Spec < b.Spec
		}
		if a.Template != b.Template {
			return a.Template < b.Template
		}
		return a.Method < b.Method
	})
	return &t.Truth
}

// Called returns the operations that received at least one request.
func (t *Truth) Called() []TruthOp {
	var out []TruthOp
	for _, o := range t.Operations {
		if o.Hits > 0 {
			out = append(out, o)
		}
	}
	return out
}

// WriteJSON writes the truth as indented JSON.
func (t *Truth) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(t)
}

// ReadTruth reads a file written by WriteJSON.
func ReadTruth(file string) (*Truth, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var t Truth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &t, nil
}
