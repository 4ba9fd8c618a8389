// Command trafficgen writes realistic API traffic generated from OpenAPI
// specs (or the demo shop) in a log format, with its ground truth.
//
//	go run ./bench/trafficgen --spec ../shared/data/openapi/sentry.json --format combined \
//	    --requests 10000 --seed 1 --out sentry.log --truth sentry.truth.json
//
// See internal/discovery/trafficgen and bench/README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vigil-sec/vigil/internal/discovery/trafficgen"
)

type specList []string

func (s *specList) String() string     { return strings.Join(*s, ",") }
func (s *specList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "trafficgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trafficgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var specs specList
	fs.Var(&specs, "spec", `OpenAPI spec file (repeatable: one host each), or "shop" for the demo shop`)
	format := fs.String("format", "combined", "output format: "+strings.Join(trafficgen.Formats(), ", "))
	requests := fs.Int("requests", 10000, "requests to write, noise included")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same file")
	out := fs.String("out", "-", "output file (- for stdout)")
	truth := fs.String("truth", "", "write the ground truth (JSON) to this file")
	host := fs.String("host", "", "host of the traffic (default api.<spec name>.example; one spec only)")
	poolScale := fs.Float64("pool-scale", 1, "multiply the populations of values (large: nearly every path distinct)")
	valueZipf := fs.Float64("value-zipf", 1.1, "Zipf exponent of value popularity")
	paramless := fs.Float64("paramless-weight", 1, "multiply the popularity of operations without path parameters")
	noNoise := fs.Bool("no-noise", false, "no static assets, scanner probes or CORS pre-flights")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(specs) == 0 {
		return fmt.Errorf("--spec is required")
	}
	var loaded []*trafficgen.Spec
	for _, s := range specs {
		if s == "shop" {
			loaded = append(loaded, trafficgen.ShopSpec())
			continue
		}
		sp, err := trafficgen.LoadSpec(s)
		if err != nil {
			return err
		}
		loaded = append(loaded, sp)
	}
	if *host != "" {
		if len(loaded) > 1 {
			return fmt.Errorf("--host needs exactly one --spec")
		}
		loaded[0].Host = *host
	}
	opts := trafficgen.Options{Requests: *requests, Seed: *seed, PoolScale: *poolScale, ValueZipf: *valueZipf, ParamlessWeight: *paramless}
	if *noNoise {
		opts.StaticShare, opts.ProbeShare, opts.PreflightShare = -1, -1, -1
	}
	g, err := trafficgen.New(loaded, opts)
	if err != nil {
		return err
	}
	var w io.Writer = stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	lw, err := trafficgen.NewWriter(w, *format)
	if err != nil {
		return err
	}
	t, err := g.Run(lw.Write)
	if err != nil {
		return err
	}
	if err := lw.Close(); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *truth != "" {
		f, err := os.Create(*truth)
		if err != nil {
			return err
		}
		if err := t.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	called := len(t.Called())
	fmt.Fprintf(stderr, "trafficgen: %d requests (%d API, %d static, %d probes, %d pre-flights) to %d of %d operations\n",
		t.Requests, t.API, t.Noise[trafficgen.ClassStatic], t.Noise[trafficgen.ClassProbe], t.Noise[trafficgen.ClassPreflight], called, len(t.Operations))
	return nil
}
